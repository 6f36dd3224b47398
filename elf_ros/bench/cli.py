"""
Command line of the detector benchmark: `elf-bench` / `python -m elf_ros.bench` (no ROS needed).

ms per frame of ELF presets, the bare network part and OpenCV SIFT/ORB in one run
(elf_ros.core.benchmark); prints a Markdown table, `--json PATH` also writes the numbers.
Defaults that need files (the Oxford graf photo, the VGG-19 normalised weights) are looked up
in the checkout's sibling `shared/` folder and skipped when absent.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.core import benchmark, DEFAULT_PRESET, PRESETS

SHARED = Path(__file__).resolve().parents[2].parent / 'shared'
DEFAULT_PHOTO = SHARED / 'data/oxford_graf/img1.png'
# Offline stand-in for torchvision's VGG-19 (same cost up to conv3_1): the normalised file.
DEFAULT_WEIGHTS = {'vgg19': SHARED / 'weights/vgg19_normalised_conv3_1/vgg_normalised_conv3_1.pth'}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='elf-bench', description='ms per frame of ELF presets, the bare network part, '
        'and OpenCV SIFT/ORB in one run.')
    p.add_argument('--presets', nargs='+',
                   default=[DEFAULT_PRESET, 'efficientnet_lite0', 'vgg19'],
                   choices=sorted(PRESETS))
    p.add_argument('--weights', nargs='*', default=[], metavar='NAME=PATH',
                   help='local weights file for a preset or backbone when its published '
                   'weights are not available (default: vgg19 = the shared normalised file)')
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument('--half', action='store_true', help='float16 network on CUDA')
    p.add_argument('--no-cuda-graphs', action='store_true', help='run CUDA eagerly (no graphs)')
    p.add_argument('--threads', type=int, default=0, help='torch/OpenCV CPU threads (0 = keep)')
    p.add_argument('--image', default=None,
                   help='photo to time on (default: Oxford graf when present, else texture)')
    p.add_argument('--json', default=None, help='also write the result as JSON here')
    p.add_argument('--profile', action='store_true', help='print an operator profile per preset')
    args = p.parse_args(argv)
    if args.image is None and DEFAULT_PHOTO.is_file():
        args.image = str(DEFAULT_PHOTO)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = {**DEFAULT_WEIGHTS, **dict(w.split('=', 1) for w in args.weights if '=' in w)}
    result = benchmark.run(args, files)
    print(benchmark.format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
