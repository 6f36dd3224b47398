"""Command line of elf_ros.bag.benchmark: `python -m elf_ros.bag.benchmark`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.bag.benchmark import (
    run,
    table,
)

# The shared data beside the checkout (run from the repository root, as `make bag-bench` does).
DEFAULT_FRAMES = Path('../shared/data/kitti_seq1/image_l')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='python -m elf_ros.bag.benchmark',
                                description='`elf-bag process` against the detector alone on the '
                                'same frames (CPU or GPU).')
    p.add_argument('--frames', type=Path, default=DEFAULT_FRAMES, help='folder of frames')
    p.add_argument('--preset', default='efficientnet_lite1')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1, help='torch/OpenCV threads (0 = keep)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--limit', type=int, default=0, help='use only the first N frames')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    p.add_argument('--outputs', nargs='+', default=['features'],
                   choices=('features', 'keypoints', 'descriptors'))
    p.add_argument('--json', type=Path, help='write the numbers as JSON')
    args = p.parse_args(argv)
    if not args.frames.is_dir():
        print(f'error: no frames folder {args.frames}', file=sys.stderr)
        return 2
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
