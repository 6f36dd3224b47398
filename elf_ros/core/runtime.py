"""
How the detector's front end (images -> saliency and description maps) is executed.

One callable per runtime, all with the same contract: (B, 3, h, w) float32 images on the 0..255
scale at the network size, on the detector's device -> (saliency (B, h, w) float32 in [0, 1],
(D1, D2, ...)). Post-processing is the same torch code for all of them.

- 'autograd': the network and ``torch.autograd.grad`` (any backbone, torchvision ones included);
- 'forward': the gradient as forward operations (elf_ros.core.forward_gradient), eager;
- 'compile': the same module through ``torch.compile`` (inductor), compiled per input shape;
- 'bf16': 'forward' under bfloat16 autocast (CPUs with AVX512-BF16/AMX, recent GPUs);
- 'onnxruntime' / 'openvino': the ONNX export of 'forward' (elf_ros.core.export) run by that
  engine; the model is exported at start-up, or read from ``exported_model``;
- 'auto' (the default): 'onnxruntime' where it is measured fastest and exact (docs/core.md,
  "Runtimes"): a CPU, onnxruntime installed, an EfficientNet-Lite backbone; 'autograd'
  everywhere else.
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
from typing import Callable, TYPE_CHECKING

import cv2
import numpy as np
import torch

from elf_ros.core.config import ENGINE_RUNTIMES, RUNTIMES
from elf_ros.core.front_end import FrontEnd, normalise_images
from elf_ros.core.orientation import Describer, torch_describer
from elf_ros.core.saliency import elf_saliency, Offset

if TYPE_CHECKING:
    from elf_ros.core.backbones import Backbone
    from elf_ros.core.config import DetectorConfig

LITE_PREFIX = 'efficientnet_lite'    # the backbones 'auto' runs with onnxruntime on a CPU
FrontEndFn = Callable[[torch.Tensor], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]


class RuntimeUnavailableError(RuntimeError):
    """The runtime's engine is not installed (the message names the pip package)."""


def set_cpu_threads(threads: int) -> None:
    """
    Set the CPU threads of the whole pipeline, process-wide.

    Torch's (ONNX Runtime and OpenVINO sessions built afterwards read torch's count) and
    OpenCV's (the CPU post-processing's blurs and window maxima, SIFT).
    """
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def require(module: str, package: str, runtime: str) -> object:
    """Import an optional engine or say which pip package provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeUnavailableError(
            f'{runtime!r} needs the Python package {package!r}: '
            f'pip install {package}') from None


def autograd_front_end(backbone: 'Backbone', network: torch.nn.Module, preprocessing: str,
                       offsets: list[Offset], half: bool, device: torch.device) -> FrontEndFn:
    """Run the reference path: normalise, then elf_saliency (autograd) on the network."""
    consts = [torch.tensor(v, device=device).view(1, 3, 1, 1) for v in
              (backbone.mean, backbone.std, backbone.standard_scale, backbone.standard_shift)]

    def run(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        x = normalise_images(x, preprocessing, *consts).contiguous(
            memory_format=torch.channels_last)
        return elf_saliency(network, x.half() if half else x, offsets)
    return run


def module_front_end(front: FrontEnd, runtime: str, device: torch.device) -> FrontEndFn:
    """'forward', 'compile' or 'bf16' over a :class:`FrontEnd` already on ``device``."""
    module: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] = front
    if runtime == 'compile':
        module = torch.compile(front, fullgraph=True)

    def run(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        with torch.no_grad():
            if runtime == 'bf16':
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    sal, *descs = module(x)
                return sal.float(), tuple(d.float() for d in descs)
            sal, *descs = module(x)
        return sal, tuple(descs)
    return run


def onnxruntime_session(model: bytes | str, device: torch.device, threads: int) -> object:
    """Open an ONNX Runtime session on ``threads`` CPU threads (TensorRT, then CUDA on a GPU)."""
    ort = require('onnxruntime', 'onnxruntime', 'onnxruntime')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: a node shares the CPU with the camera driver and the rest
    # of the robot. Measured at 2 threads and 10 Hz: 216 ms of CPU per frame instead of 309,
    # detection no slower.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.add_session_config_entry('session.inter_op.allow_spinning', '0')
    available = ort.get_available_providers()
    wanted = (['TensorrtExecutionProvider', 'CUDAExecutionProvider'] if device.type == 'cuda'
              else []) + ['CPUExecutionProvider']
    return ort.InferenceSession(model, options, providers=[p for p in wanted if p in available])


def onnxruntime_front_end(model: bytes | str, device: torch.device, threads: int
                          ) -> FrontEndFn:
    """Run an ONNX front end with ONNX Runtime (TensorRT, then CUDA providers on a GPU)."""
    session = onnxruntime_session(model, device, threads)
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        out = session.run(None, {name: x.detach().cpu().numpy()})
        sal, *descs = (torch.from_numpy(o).to(device) for o in out)
        return sal, tuple(descs)
    return run


def openvino_front_end(model: bytes | str, device: torch.device, threads: int) -> FrontEndFn:
    """Run an ONNX front end compiled by OpenVINO for the CPU."""
    ov = require('openvino', 'openvino', 'openvino')
    core = ov.Core()
    if isinstance(model, bytes):        # OpenVINO reads ONNX from a file
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, 'front_end.onnx')
            with open(path, 'wb') as f:
                f.write(model)
            read = core.read_model(path)
    else:
        read = core.read_model(model)
    # f32: OpenVINO would otherwise pick bf16 on CPUs that have it (that is the 'bf16' runtime)
    compiled = core.compile_model(read, 'CPU', {'INFERENCE_NUM_THREADS': threads,
                                                'INFERENCE_PRECISION_HINT': 'f32'})
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        result = request.infer([x.detach().cpu().numpy()])
        sal, *descs = (torch.from_numpy(np.array(result[o])).to(device)
                       for o in compiled.outputs)
        return sal, tuple(descs)
    return run


def engine_front_end(runtime: str, model: bytes | str, device: torch.device) -> FrontEndFn:
    """Run an ONNX front end (bytes or a file path) with 'onnxruntime' or 'openvino'."""
    threads = torch.get_num_threads() or os.cpu_count() or 1
    if runtime == 'onnxruntime':
        return onnxruntime_front_end(model, device, threads)
    return openvino_front_end(model, device, threads)


def resolve_runtime(config: 'DetectorConfig', device: torch.device) -> str:
    """
    Return the runtime ``config.runtime`` means on ``device``: itself, unless it is 'auto'.

    'auto' is 'onnxruntime' on a CPU (same keypoints and descriptors as autograd, ~1.3x faster
    on one thread; the fine detection pass of saliency_upsample included) when onnxruntime and
    onnx are installed and the backbone is an EfficientNet-Lite (measured; VGG's fastest exact
    runtime is 'compile', with a long first frame); with an exported_model always 'onnxruntime'.
    On CUDA 'autograd' (CUDA graphs; the engines' GPU providers are untested here).
    """
    if config.runtime != 'auto':
        return config.runtime
    if config.exported_model:
        return 'onnxruntime'
    if (device.type != 'cpu' or not config.backbone.startswith(LITE_PREFIX)
            or not all(importlib.util.find_spec(m) for m in ('onnxruntime', 'onnx'))):
        return 'autograd'
    return 'onnxruntime'


def make_front_end(runtime: str, backbone: 'Backbone', metadata: dict, preprocessing: str,
                   offsets: list[Offset], half: bool, device: torch.device,
                   saliency_upsample: float = 1.0) -> FrontEndFn:
    """
    Return the front end of a freshly built torch backbone (on ``device``) for ``runtime``.

    The engine runtimes export it to ONNX in memory first (dynamic batch and size). The
    'autograd' front end is the plain pass (the detector runs the fine one); the others hold
    the fine detection pass when ``saliency_upsample`` != 1.
    """
    if runtime not in RUNTIMES or runtime == 'auto':
        raise ValueError(f'runtime: allowed {RUNTIMES[1:]} (resolve auto first); got '
                         f'{runtime!r}')
    if runtime == 'autograd':
        return autograd_front_end(backbone, backbone.network, preprocessing, offsets, half,
                                  device)
    front = FrontEnd(backbone, preprocessing, offsets, saliency_upsample).to(device)
    if runtime not in ENGINE_RUNTIMES:
        return module_front_end(front, runtime, device)
    from elf_ros.core.export import export_onnx  # noqa: PLC0415 - avoids an import cycle

    side = max(64, 2 * backbone.max_stride)
    model = export_onnx(front, metadata, side, side, dynamic_size=True)
    front.to(device)                                  # export moved it to the CPU
    return engine_front_end(runtime, model, device)


def copy_describer(runtime: str, backbone: 'Backbone', device: torch.device) -> Describer:
    """
    Describe the orientation's rotated copies (normalised images -> description maps).

    With 'onnxruntime' the description taps run exported, like the front end (1.7x faster than
    the eager network on one thread: 104 vs 180 ms for a 700x700 canvas); otherwise the torch
    network, gradient-free.
    """
    if runtime != 'onnxruntime':
        return torch_describer(backbone.network)
    from elf_ros.core.export import export_describe_onnx  # noqa: PLC0415 - import cycle

    model = export_describe_onnx(FrontEnd(backbone, 'imagenet'))
    backbone.network.to(device)                       # export moved it to the CPU
    session = onnxruntime_session(model, device, torch.get_num_threads() or os.cpu_count() or 1)

    def describe(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = session.run(None, {'images': x.detach().float().cpu().numpy()})
        return tuple(torch.from_numpy(o).to(device) for o in out)
    return describe
