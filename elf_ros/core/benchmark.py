"""
Benchmark: ms per frame of ELF presets, the bare network part, and OpenCV SIFT/ORB in one run.

The measurements; the command line is elf_ros.bench.cli (``elf-bench``, ``python -m
elf_ros.bench [--presets vgg19 efficientnet_lite1] [--device cuda --half]``), which prints the
table and optionally writes JSON (``--json PATH``). "full" is ``detect()`` from uint8
frames on the host to results on the host; "bare" is only the forward pass to both layers plus
the input gradient of the detection layer (the part no post-processing can avoid), so
full / bare shows the post-processing overhead. When ImageNet weights are not available the
preset runs with random weights of the same architecture (same cost) and says so.
"""
from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import platform
import re
import sys
from typing import Any, Callable, Protocol

import cv2
import numpy as np
import torch

from elf_ros.core.config import ConfigError, parse_assignment
from elf_ros.core.detector import ElfDetector
from elf_ros.core.front_end import upsample_for_detection
from elf_ros.core.presets import load_preset, PRESETS
from elf_ros.core.runtime import set_cpu_threads
from elf_ros.core.saliency import shift_image
from elf_ros.core.stages import network_share, profile_stages
from elf_ros.core.timing import median_ms, no_sync
from elf_ros.core.weights import WeightsError


class Settings(Protocol):
    """What a benchmark run needs (the command line's parsed arguments)."""

    presets: list[str]
    width: int
    height: int
    batch: int
    repeats: int
    warmup: int
    device: str
    half: bool
    no_cuda_graphs: bool
    threads: int
    image: str | None
    profile: bool
    stages: bool


def bench_frame(width: int, height: int, photo: str | Path | None) -> tuple[np.ndarray, str]:
    """Return an RGB frame of the benchmark size: the photo when readable, else seeded texture."""
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR) if photo else None
    if img is not None:
        return cv2.cvtColor(cv2.resize(img, (width, height)), cv2.COLOR_BGR2RGB), str(photo)
    rng = np.random.default_rng(0)
    acc = np.zeros((height, width, 3), np.float32)
    for scale in (4, 16, 64):
        noise = rng.random((height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        acc += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    acc = (acc - acc.min()) / (acc.max() - acc.min()) * 255
    return acc.astype(np.uint8), 'synthetic texture'


def bare_fn(det: ElfDetector, frames: list[np.ndarray]) -> Callable[[], Any]:
    """
    Forward to both taps + input gradient of the detection map, on a pre-uploaded batch.

    With shift averaging, the shifted copies are part of the batch, as in the detector. With
    ``saliency_upsample``: the forward of the network-size image (descriptors) plus the
    detection tap's forward and gradient on the upsampled copies. Other runtimes than
    'autograd': their whole front end (normalisation and saliency included).
    """
    if det.runtime != 'autograd':
        images = det._upload(frames, list(range(len(frames))),
                             det._net_size(*frames[0].shape[:2]))
        return lambda: det._front(images)
    x0 = det._normalise(det._upload(frames, list(range(len(frames))),
                                    det._net_size(*frames[0].shape[:2])))
    x0 = (x0.half() if det.half else x0).contiguous(memory_format=torch.channels_last)
    up = det.config.saliency_upsample
    fine = x0
    if up != 1.0:
        fine = upsample_for_detection(x0, up)
    x = torch.cat([shift_image(fine, d) for d in det._offsets])
    x = (x.contiguous(memory_format=torch.channels_last) if up == 1.0 else x).detach()

    def run() -> Any:
        xi = x.requires_grad_(True)
        with torch.enable_grad():
            f, d = det.network(xi, len(frames) if up == 1.0 else 0)
            grad = torch.autograd.grad(f, xi, grad_outputs=f.detach())[0]
        if up != 1.0:
            with torch.no_grad():
                d = det.network(x0)[1]
        return grad, d
    return run


def print_profile(fn: Callable[[], Any], title: str, rows: int = 25) -> None:
    """Print the operators that dominate one call (CPU and CUDA time) to stderr."""
    from torch.profiler import profile, ProfilerActivity

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        fn()
    key = 'cuda_time_total' if torch.cuda.is_available() else 'cpu_time_total'
    print(f'# profile of {title}\n' + prof.key_averages().table(sort_by=key, row_limit=rows),
          file=sys.stderr)


def opencv_fn(kind: str, frames: list[np.ndarray]) -> Callable[[], Any]:
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    det = cv2.SIFT_create() if kind == 'sift' else cv2.ORB_create(nfeatures=500)
    return lambda: [det.detectAndCompute(g, None) for g in grays]


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """
    'efficientnet_lite1:nms_mode=float,saliency_upsample=2' -> (preset, typed field changes).

    Values are typed and checked by the core's field parser; unknown presets or fields raise
    ConfigError naming what is allowed. A comma starts a new field only before ``NAME=``, so a
    list value keeps its commas: 'efficientnet_lite1:description_layer=stage3,stage4'.
    """
    preset, _, rest = spec.partition(':')
    if preset not in PRESETS:
        raise ConfigError(f'preset: unknown {preset!r}; allowed: {", ".join(PRESETS)}')
    items = re.split(r',(?=\s*[A-Za-z_]\w*\s*=)', rest)
    return preset, dict(parse_assignment(item) for item in items if item)


def build(spec: str, args: Settings,
          weight_files: Mapping[str, str | Path] = {}) -> tuple[ElfDetector, str]:  # noqa: B006
    """
    Build a preset (optionally with field changes) at the benchmark size; local file or random.

    `weight_files` maps a preset or backbone name to a local weights file, used when the
    published weights are not available here.
    """
    preset, changes = parse_variant(spec)
    overrides = dict(device=args.device, half_precision=args.half, input_width=args.width,
                     input_height=args.height, cuda_graphs=not args.no_cuda_graphs,
                     runtime=getattr(args, 'runtime', 'auto'),
                     exported_model=getattr(args, 'exported_model', ''))
    overrides.update(changes)
    try:
        return ElfDetector(load_preset(preset, **overrides)), load_preset(preset).weights
    except WeightsError as exc:
        local = weight_files.get(preset) or weight_files.get(PRESETS[preset]['backbone'])
        if local and Path(local).is_file():
            print(f'# {preset}: {exc.args[0].split(".")[0]}; timing with {local}',
                  file=sys.stderr)
            return ElfDetector(load_preset(preset, weights=str(local), **overrides)), Path(
                local).name
        print(f'# {preset}: {exc.args[0].split(".")[0]}; timing with random weights',
              file=sys.stderr)
        return ElfDetector(load_preset(preset, weights='random', **overrides)), 'random*'


def run(args: Settings,
        weight_files: Mapping[str, str | Path] = {}) -> dict[str, Any]:  # noqa: B006
    """
    Time every preset of `args` and OpenCV SIFT/ORB; one row per method.

    Interleaved: each round calls every method once (full pipeline and bare network of each
    preset, SIFT, ORB), so load drifting on a shared machine hits them alike and the ratios
    hold even when the milliseconds do not. Stage profiles run afterwards, per preset.
    """
    if args.threads:
        set_cpu_threads(args.threads)
    frame, source = bench_frame(args.width, args.height, args.image)
    frames = [frame] * args.batch
    built = [(preset, *build(preset, args, weight_files)) for preset in args.presets]
    device = str(built[0][1].device) if built else 'cpu'
    cuda = any(det.device.type == 'cuda' for _, det, _ in built)
    fns: list[Callable[[], Any]] = []
    for _, det, _ in built:
        fns += [lambda d=det: d.detect(frames), bare_fn(det, frames)]
    fns += [opencv_fn(kind, frames) for kind in ('sift', 'orb')]
    times = median_ms(fns, args.repeats, args.warmup,
                      torch.cuda.synchronize if cuda else no_sync)
    rows: list[dict[str, Any]] = []
    for i, (preset, det, weights) in enumerate(built):
        full, bare = times[2 * i], times[2 * i + 1]
        if args.profile:
            print_profile(lambda d=det: d.detect(frames), preset)
        runtime = '' if det.runtime == 'autograd' else f' ({det.runtime})'
        rows.append(dict(method=f'elf-{preset}{runtime}', weights=weights,
                         layers=f'{det.backbone.detection_layer}/{det.backbone.description_layer}',
                         precision=('fp16' if det.half else 'fp32') + (
                             '+graph' if det._graphs is not None else ''),
                         full_ms=full / args.batch, bare_ms=bare / args.batch,
                         keypoints=len(det.detect(frames)[0]),
                         shift_averaging=det.config.shift_averaging))
        if getattr(args, 'stages', False):
            rows[-1]['stages'] = {k: v / args.batch for k, v in profile_stages(
                det, frames, args.repeats, args.warmup).items()}
    for kind, ms in zip(('sift', 'orb'), times[-2:], strict=True):
        rows.append(dict(method=f'opencv-{kind}', weights='-', layers='-', precision='-',
                         full_ms=ms / args.batch, bare_ms=None,
                         keypoints=len(opencv_fn(kind, [frame])()[0][0]), shift_averaging=None))
    sift = next(r['full_ms'] for r in rows if r['method'] == 'opencv-sift')
    orb = next(r['full_ms'] for r in rows if r['method'] == 'opencv-orb')
    for r in rows:
        r['fps'] = 1000.0 / r['full_ms']
        r['full_over_bare'] = r['full_ms'] / r['bare_ms'] if r['bare_ms'] else None
        r['over_sift'] = r['full_ms'] / sift
        r['over_orb'] = r['full_ms'] / orb
    return dict(
        size=f'{args.width}x{args.height}', batch=args.batch, repeats=args.repeats,
        device=device, device_name=(torch.cuda.get_device_name() if device.startswith('cuda')
                                    else platform.processor() or platform.machine()),
        torch_threads=torch.get_num_threads(), torch=torch.__version__, opencv=cv2.__version__,
        load_average=[round(v, 2) for v in os.getloadavg()],
        image=source, rows=rows)


def format_table(result: dict[str, Any]) -> str:
    """Markdown table of one benchmark run."""
    head = (f"ELF benchmark: {result['size']}, batch {result['batch']}, device {result['device']}"
            f" ({result['device_name']}), torch {result['torch']}, "
            f"{result['torch_threads']} CPU threads, median of {result['repeats']}, "
            f"load average {result.get('load_average', '?')}")
    lines = [head, '',
             '| method | weights | layers | prec | full ms/frame | fps | bare ms/frame '
             '| full/bare | /SIFT | /ORB | keypoints |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        bare = f"{r['bare_ms']:.2f}" if r['bare_ms'] else '-'
        ratio = f"{r['full_over_bare']:.2f}" if r['full_over_bare'] else '-'
        lines.append(
            f"| {r['method']} | {r['weights']} | {r['layers']} | {r['precision']} "
            f"| {r['full_ms']:.2f} | {r['fps']:.1f} | {bare} | {ratio} | {r['over_sift']:.2f} "
            f"| {r['over_orb']:.2f} | {r['keypoints']} |")
    return '\n'.join(lines)


def format_stages(result: dict[str, Any]) -> str:
    """
    Markdown table of the per-stage profile: ms per frame of each stage, one column per preset.

    The last rows: the network stages together, everything else, and that as a share of the
    network (issue 17 asks for at most 15 %), plus the full pipeline over SIFT.
    """
    rows = [r for r in result['rows'] if r.get('stages')]
    if not rows:
        return ''
    sift = next(r['full_ms'] for r in result['rows'] if r['method'] == 'opencv-sift')
    names = list(dict.fromkeys(k for r in rows for k in r['stages'] if k != 'total'))
    lines = ['| stage (ms/frame) | ' + ' | '.join(r['method'] for r in rows) + ' |',
             '|---|' + '---:|' * len(rows)]
    for name in names:
        cells = [f"{r['stages'][name]:.2f}" if name in r['stages'] else '-' for r in rows]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    shares = [network_share(r['stages']) for r in rows]
    lines += ['| **sum of stages** | ' + ' | '.join(f"**{r['stages']['total']:.1f}**"
                                                    for r in rows) + ' |',
              "| network (forward + gradient; 'front end' of other runtimes) | "
              + ' | '.join(f'{n:.1f}' for n, _ in shares) + ' |',
              '| everything else | ' + ' | '.join(f'{o:.1f}' for _, o in shares) + ' |',
              '| everything else / network | ' + ' | '.join(
                  f'{100 * o / n:.0f} %' if n else '-' for n, o in shares) + ' |',
              '| full (timed separately) / SIFT | ' + ' | '.join(
                  f"{r['full_ms'] / sift:.2f}" for r in rows) + ' |']
    return '\n'.join(lines)
