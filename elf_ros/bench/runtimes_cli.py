"""
Command line of the runtime comparison: `python -m elf_ros.bench.runtimes_cli` (no ROS needed).

For each preset, every front-end runtime (autograd, forward, compile, bf16, onnxruntime,
openvino) timed in one run with SIFT, and checked against the autograd reference on real photos
(elf_ros.core.runtime_compare). Prints a Markdown table; `--json PATH` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.bench.defaults import DEFAULT_PHOTO, DEFAULT_WEIGHTS, SHARED
from elf_ros.core import benchmark, PRESETS, runtime_compare, RUNTIMES, set_cpu_threads

# Real photos for the agreement check: the first and fourth image of each Oxford sequence.
CHECK_IMAGES = [next((SHARED / f'data/oxford_{s}').glob(f'img{i}.*'), SHARED / 'missing')
                for s in ('graf', 'boat', 'wall', 'trees', 'ubc') for i in (1, 4)
                if (SHARED / f'data/oxford_{s}').is_dir()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='python -m elf_ros.bench.runtimes_cli',
                                description=__doc__.strip().splitlines()[0])
    p.add_argument('--presets', nargs='+', default=['efficientnet_lite1', 'vgg19'],
                   choices=sorted(PRESETS))
    p.add_argument('--runtimes', nargs='+', default=[r for r in RUNTIMES if r != 'auto'],
                   choices=RUNTIMES)
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=1, help='torch/OpenCV/engine CPU threads')
    p.add_argument('--image', default=None, help='photo to time on (default: Oxford graf)')
    p.add_argument('--check-images', nargs='*', default=None,
                   help='photos for the agreement check (default: 10 Oxford images)')
    p.add_argument('--json', default=None, help='also write the result as JSON here')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_cpu_threads(args.threads)
    photo = args.image or (str(DEFAULT_PHOTO) if DEFAULT_PHOTO.is_file() else None)
    frame, source = benchmark.bench_frame(args.width, args.height, photo)
    paths = args.check_images if args.check_images is not None else CHECK_IMAGES
    checks = runtime_compare.read_frames(paths, args.width, args.height) or [frame]
    overrides = dict(device='cpu', input_width=args.width, input_height=args.height)
    rows = []
    for preset in args.presets:
        weights = next((str(f) for k, f in DEFAULT_WEIGHTS.items()
                        if k in (preset, PRESETS[preset]['backbone']) and Path(f).is_file()),
                       None)
        rows += runtime_compare.compare(preset, args.runtimes, frame, checks, overrides, weights,
                        args.repeats, args.warmup)
    env = runtime_compare.environment()
    print(f"Front-end runtimes: {args.width}x{args.height}, batch 1, timed on {source}, "
          f"agreement on {len(checks)} photos, median of {args.repeats}, "
          f"{env['torch_threads']} thread(s), torch {env['torch']}, "
          f"load average {env['load_average']}\n")
    print(runtime_compare.format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(env, rows=rows), indent=2, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
