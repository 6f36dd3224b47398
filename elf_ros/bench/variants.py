"""
CPU or GPU cost of detector-config variants of one preset, timed interleaved, against SIFT.

Why interleaved: on a shared machine the load drifts; calling every variant once per round
(core timing.call_times) lets the drift hit all alike, so the ratios hold even when the
milliseconds do not. Example (docs/core.md, "Orientation and scale levels"):

    python -m elf_ros.bench.variants --preset efficientnet_lite1 --threads 1
        --variant rot8=orientation=centroid --variant rot4=orientation=centroid,rotations=4
"""
from __future__ import annotations

import argparse
import sys

import cv2
import torch

from elf_ros.core import ElfDetector, load_preset, median_ms, parse_assignments

GRAF = '../shared/data/oxford_graf/img1.png'


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """'NAME=FIELD=VALUE,FIELD=VALUE' -> (NAME, typed changes)."""
    name, sep, rest = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError(f'expected NAME=FIELD=VALUE[,...], got {text!r}')
    return name, parse_assignments([item for item in rest.split(',') if item])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--preset', default='efficientnet_lite1')
    p.add_argument('--variant', action='append', type=parse_variant, default=[],
                   metavar='NAME=FIELD=VALUE[,FIELD=VALUE]')
    p.add_argument('--image', default=GRAF, help='photo to time on (resized to 640x480)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1, help='torch/OpenCV threads (0 = keep)')
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    bgr = cv2.imread(args.image)
    if bgr is None:
        print(f'error: cannot read {args.image}', file=sys.stderr)
        return 2
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (640, 480))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    variants = [(args.preset, {}), *args.variant]
    dets = [ElfDetector(load_preset(args.preset, device=args.device, **changes))
            for _, changes in variants]
    sift = cv2.SIFT_create(nfeatures=500)
    fns = [lambda d=d: d.detect([rgb]) for d in dets]
    fns.append(lambda: sift.detectAndCompute(gray, None))
    times = median_ms(fns, args.repeats, warmup=1)
    base, ref = times[0], times[-1]
    print(f'{args.preset}, 640x480, {args.device}, {args.threads or "default"} thread(s), '
          f'median of {args.repeats}, interleaved\n')
    print('| variant | changes | ms/frame | vs preset | vs SIFT |')
    print('|---|---|---:|---:|---:|')
    names = [(n, ', '.join(f'{k}={v}' for k, v in c.items()) or '-') for n, c in variants]
    names.append(('sift', 'OpenCV SIFT, 500 features'))
    for (name, changes), ms in zip(names, times, strict=True):
        print(f'| {name} | {changes} | {ms:.0f} | {ms / base:.2f}x | {ms / ref:.1f}x |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
