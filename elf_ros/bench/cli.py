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

from elf_ros.bench.defaults import DEFAULT_PHOTO, DEFAULT_WEIGHTS
from elf_ros.core import benchmark, DEFAULT_PRESET, PRESETS, RUNTIMES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='elf-bench', description='ms per frame of ELF presets, the bare network part, '
        'and OpenCV SIFT/ORB in one run.')
    p.add_argument('--presets', nargs='+',
                   default=[DEFAULT_PRESET, 'efficientnet_lite0', 'vgg19'],
                   metavar='PRESET[:FIELD=VALUE,...]',
                   help=f'presets to time ({", ".join(PRESETS)}), each optionally with '
                   "detector-field changes, e.g. 'efficientnet_lite1:nms_mode=greedy' (variants "
                   'of one preset, timed in one run)')
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
    p.add_argument('--runtime', default='auto', choices=RUNTIMES,
                   help='how the front end runs (detector field runtime)')
    p.add_argument('--exported-model', default='', metavar='PATH',
                   help='an elf-export ONNX file to run (with --runtime onnxruntime/openvino)')
    p.add_argument('--image', default=None,
                   help='photo to time on (default: Oxford graf when present, else texture)')
    p.add_argument('--json', default=None, help='also write the result as JSON here')
    p.add_argument('--profile', action='store_true', help='print an operator profile per preset')
    p.add_argument('--stages', action='store_true',
                   help='also time each stage of the pipeline (eager; CUDA graphs bypassed) and '
                   'print the stage table')
    args = p.parse_args(argv)
    for spec in args.presets:
        try:
            benchmark.parse_variant(spec)
        except ValueError as exc:
            p.error(f'--presets {spec}: {exc}')
    if args.image is None and DEFAULT_PHOTO.is_file():
        args.image = str(DEFAULT_PHOTO)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = {**DEFAULT_WEIGHTS, **dict(w.split('=', 1) for w in args.weights if '=' in w)}
    result = benchmark.run(args, files)
    print(benchmark.format_table(result))
    if args.stages:
        print('\nPer stage (median of the repeats; eager):\n\n' + benchmark.format_stages(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
