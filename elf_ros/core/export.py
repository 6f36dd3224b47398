"""
ONNX export of the ELF front end, and reading back what an exported file was built from.

The file holds images (B, 3, H, W) float32 0..255 -> saliency (B, H, W) and one description map
per layer, with the input gradient as forward operations (dynamic batch; fixed or dynamic
size). It records the config fields that define the graph, and the strides and descriptor width
the post-processing needs, as ONNX metadata (``elf_ros.front_end``, JSON), so a detector can run
the file without building (or having the weights of) the torch network.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
import warnings

import torch

from elf_ros.core.backbones import Backbone, build_backbone
from elf_ros.core.config import ConfigError, DetectorConfig
from elf_ros.core.front_end import FrontEnd
from elf_ros.core.saliency import shift_offsets

METADATA_KEY = 'elf_ros.front_end'
# Config fields that shape the exported graph (weights and seed are inside it, only recorded).
GRAPH_FIELDS = ('backbone', 'detection_layer', 'description_layer', 'preprocessing',
                'relu6_pass_gradient', 'shift_averaging', 'saliency_upsample')
# What a file written before a field joined GRAPH_FIELDS was exported with.
FIELD_DEFAULTS_OF_OLDER_FILES = {'saliency_upsample': 1.0}
OPSET = 18


def front_end_metadata(config: DetectorConfig, backbone: Backbone, preprocessing: str,
                       size: tuple[int, int] | None) -> dict[str, Any]:
    """Describe an exported front end for a detector (JSON-able)."""
    fields = {f: getattr(config, f) for f in GRAPH_FIELDS}
    fields.update(detection_layer=backbone.detection_layer,
                  description_layer=backbone.description_layer, preprocessing=preprocessing)
    return dict(fields=fields, weights=config.weights, seed=config.seed,
                size=list(size) if size else None,
                detection_stride=backbone.detection_stride,
                description_stride=backbone.description_stride,
                max_stride=backbone.max_stride, descriptor_dim=backbone.descriptor_dim)


def export_onnx(front: FrontEnd, metadata: dict[str, Any], height: int, width: int,
                dynamic_size: bool) -> bytes:
    """
    Serialise ``front`` (float32, on the CPU) to ONNX bytes with ``metadata`` attached.

    The batch is always dynamic; height and width too when ``dynamic_size``.
    """
    from elf_ros.core.runtime import require  # noqa: PLC0415 - import cycle

    onnx = require('onnx', 'onnx', 'export')
    front = front.float().cpu().eval()
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        outputs = front(example)
    names = ['saliency'] + [f'descriptors{i}' for i in range(len(outputs) - 1)]
    axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic_size else {0: 'batch'}
    out_axes = {n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} if dynamic_size
                else {0: 'batch'} for n in names}
    if dynamic_size:
        out_axes['saliency'] = {0: 'batch', 1: 'height', 2: 'width'}
    buffer = io.BytesIO()
    with warnings.catch_warnings():   # the tracer's notes on shape inference: not actionable
        warnings.simplefilter('ignore')
        torch.onnx.export(front, (example,), buffer, dynamo=False, input_names=['images'],
                          output_names=names, dynamic_axes={'images': axes, **out_axes},
                          opset_version=OPSET, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True)
    return model.SerializeToString()


def read_metadata(path: str) -> dict[str, Any]:
    """Read the ``elf_ros.front_end`` metadata of an exported file (clear errors otherwise)."""
    try:
        import onnx  # noqa: PLC0415 - optional
    except ImportError:
        raise ConfigError("exported_model: reading an ONNX file needs the Python package "
                          "'onnx': pip install onnx") from None
    if not Path(path).is_file():
        raise ConfigError(f'exported_model: no file {path!r}')
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not an ONNX model"
        raise ConfigError(f'exported_model: {path!r} is not an ONNX model ({exc})') from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ConfigError(f'exported_model: {path!r} was not written by elf-export (no '
                          f'{METADATA_KEY} metadata)')
    return json.loads(props[METADATA_KEY])


def check_matches(metadata: dict[str, Any], config: DetectorConfig, backbone_fields: dict[str, Any]
                  ) -> None:
    """Refuse a config whose graph-defining fields differ from the exported file's."""
    recorded = {**FIELD_DEFAULTS_OF_OLDER_FILES, **metadata['fields']}
    wrong = [f'{k}: file {v!r}, config {backbone_fields[k]!r}'
             for k, v in recorded.items() if backbone_fields.get(k) != v]
    size = metadata.get('size')
    if size and [config.input_height, config.input_width] != size:
        wrong.append(f'input size: file fixed at {size[1]}x{size[0]}, config '
                     f'input_width x input_height {config.input_width}x{config.input_height}')
    if wrong:
        raise ConfigError('exported_model: the file was exported for another front end; '
                          + '; '.join(wrong) + '. Export again (elf-export) or change the config.')


def backbone_from_metadata(metadata: dict[str, Any]) -> Backbone:
    """Make a :class:`Backbone` record without a network: what post-processing reads."""
    f = metadata['fields']
    return Backbone(None, f['detection_layer'], f['description_layer'],  # type: ignore[arg-type]
                    metadata['detection_stride'], metadata['description_stride'],
                    metadata['max_stride'], metadata['descriptor_dim'],
                    (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def config_graph_fields(config: DetectorConfig) -> dict[str, Any]:
    """Return the graph-defining fields of a config as the metadata records them."""
    from elf_ros.core.registry import BACKBONES, split_layers  # noqa: PLC0415

    spec = BACKBONES.get(config.backbone)
    fields = {f: getattr(config, f) for f in GRAPH_FIELDS}
    if spec is not None:
        fields['detection_layer'] = config.detection_layer or spec.detection
        fields['description_layer'] = ','.join(
            split_layers(config.description_layer or spec.description))
    fields['preprocessing'] = ('imagenet' if config.preprocessing == 'auto'
                               else config.preprocessing)
    return fields


def export_front_end(config: DetectorConfig, path: Path, height: int, width: int,
                     fixed_size: bool = False, check: bool = False) -> str:
    """
    Write the ONNX front end of ``config`` to ``path``; return a short report.

    ``check`` runs the file with ONNX Runtime on the CPU (batch 2, the example size) and reports
    the largest difference to torch for the saliency and each description map.
    """
    backbone = build_backbone(config)
    preprocessing = 'imagenet' if config.preprocessing == 'auto' else config.preprocessing
    front = FrontEnd(backbone, preprocessing, shift_offsets(config.shift_averaging),
                     config.saliency_upsample)
    metadata = front_end_metadata(config, backbone, preprocessing,
                                  (height, width) if fixed_size else None)
    data = export_onnx(front, metadata, height, width, dynamic_size=not fixed_size)
    path.write_bytes(data)
    size = f'fixed {width}x{height}' if fixed_size else 'dynamic size'
    lines = [f'wrote {path} ({len(data) / 1e6:.1f} MB): {config.backbone} '
             f'{backbone.detection_layer}/{backbone.description_layer}, '
             f'{config.shift_averaging} shift(s), dynamic batch, {size}']
    if check:
        from elf_ros.core.runtime import onnxruntime_front_end  # noqa: PLC0415

        run = onnxruntime_front_end(str(path), torch.device('cpu'), torch.get_num_threads())
        x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(1)) * 255
        with torch.no_grad():
            want = front(x)
        sal, descs = run(x)
        for name, a, b in zip(['saliency'] + [f'descriptors{i}' for i in range(len(descs))],
                              (sal, *descs), want, strict=True):
            lines.append(f'check {name}: max |onnxruntime - torch| {(a - b).abs().max():.2e} '
                         f'(values up to {b.abs().max():.2e})')
    return '\n'.join(lines)


class _Describe(torch.nn.Module):
    """Normalised images -> description maps (the forward-operation taps, forward only)."""

    def __init__(self, taps: torch.nn.Module) -> None:
        super().__init__()
        self.taps = taps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.taps.describe(x)


def export_describe_onnx(front: FrontEnd) -> bytes:
    """
    ONNX bytes of ``front``'s description taps alone: normalised (B, 3, H, W) -> the maps.

    What the orientation's rotated copies need (dynamic batch and size); float32, on the CPU.
    """
    from elf_ros.core.runtime import require  # noqa: PLC0415 - import cycle

    require('onnx', 'onnx', 'export')
    module = _Describe(front.taps).float().cpu().eval()
    side = 64
    example = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        count = len(module(example))
    names = [f'descriptors{i}' for i in range(count)]
    axes = {n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} for n in names}
    buffer = io.BytesIO()
    with warnings.catch_warnings():   # the tracer's notes on shape inference: not actionable
        warnings.simplefilter('ignore')
        torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=['images'],
                          output_names=names,
                          dynamic_axes={'images': {0: 'batch', 2: 'height', 3: 'width'}, **axes},
                          opset_version=OPSET, do_constant_folding=True)
    return buffer.getvalue()
