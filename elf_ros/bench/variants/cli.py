"""Command line of the variant timing: `python -m elf_ros.bench.variants` (a Markdown table)."""
from __future__ import annotations

import argparse
import sys

import cv2
import torch

from elf_ros.bench.variants import parse_variant, time_variants
from elf_ros.core import ConfigError

GRAF = '../shared/data/oxford_graf/img1.png'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog='python -m elf_ros.bench.variants',
        description='Cost of detector-config variants of a preset, interleaved, against SIFT.')
    p.add_argument('--preset', default='efficientnet_lite1')
    p.add_argument('--variant', action='append', default=[],
                   metavar='NAME=FIELD=VALUE[,FIELD=VALUE]')
    p.add_argument('--image', default=GRAF, help='photo to time on (resized to 640x480)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1, help='torch/OpenCV threads (0 = keep)')
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.variant]
    except (ValueError, ConfigError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    bgr = cv2.imread(args.image)
    if bgr is None:
        print(f'error: cannot read {args.image}', file=sys.stderr)
        return 2
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (640, 480))
    rows = time_variants(args.preset, variants, rgb, args.device, args.repeats)
    base, ref = rows[0][2], rows[-1][2]
    print(f'{args.preset}, 640x480, {args.device}, {args.threads or "default"} thread(s), '
          f'median of {args.repeats}, interleaved\n')
    print('| variant | changes | ms/frame | vs preset | vs SIFT |')
    print('|---|---|---:|---:|---:|')
    for name, changes, ms in rows:
        print(f'| {name} | {changes} | {ms:.0f} | {ms / base:.2f}x | {ms / ref:.1f}x |')
    return 0
