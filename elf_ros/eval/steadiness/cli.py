"""Command line of elf_ros.eval.steadiness: `python -m elf_ros.eval.steadiness`."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
import sys

from elf_ros.core import ConfigError, parse_assignments, set_cpu_threads
from elf_ros.eval.datasets import read_image
from elf_ros.eval.methods import build_method, MethodUnavailableError
from elf_ros.eval.report import write_rows
from elf_ros.eval.steadiness import markdown, SHIFTS, steadiness


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m elf_ros.eval.steadiness',
        description='How far keypoints move when the image moves by whole or fractional '
        'pixels (no matching, no geometry).')
    parser.add_argument('--image', action='append', required=True, type=Path,
                        help='a photograph (repeatable); each is resized to --size')
    parser.add_argument('--methods', default='elf-efficientnet_lite1,sift')
    parser.add_argument('--elf-set', action='append', default=[], metavar='FIELD=VALUE',
                        help='detector-config change for every ELF method')
    parser.add_argument('--max-keypoints', type=int, default=500)
    parser.add_argument('--size', default='640x480', help='view size WxH (default %(default)s)')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0: default)')
    parser.add_argument('--out', type=Path, default=Path('steadiness_results'))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads > 0:
        set_cpu_threads(args.threads)
    try:
        overrides = parse_assignments(args.elf_set)
        w, h = (int(v) for v in args.size.lower().split('x'))
    except (ConfigError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    images = [read_image(p) for p in args.image]
    rows = []
    for spec in (m.strip() for m in args.methods.split(',') if m.strip()):
        try:
            method = build_method(spec, args.max_keypoints, args.device, None, overrides)
        except MethodUnavailableError as err:
            print(f'skipping {spec}: {err}', file=sys.stderr)
            continue
        def detect(img, method=method):  # noqa: ANN001, ANN202 - bound per method
            return method.extract([img])[0].keypoints
        for dx, dy in SHIFTS:
            result = steadiness(detect, images, (dx, dy), (w, h))
            rows.append({'method': method.name, 'dx': dx, 'dy': dy, **asdict(result)})
    return write_rows(args.out, 'elf_ros.eval.steadiness', argv, rows, markdown)
