"""Command line of elf_ros.bag.pack: `python -m elf_ros.bag.pack`."""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

from elf_ros.bag.pack import pack_folder


def main(argv: list[str] | None = None) -> int:
    from elf_ros.formats.images import SUPPORTED_ENCODINGS
    p = argparse.ArgumentParser(prog='python -m elf_ros.bag.pack',
                                description='Pack a folder of images into a rosbag2.')
    p.add_argument('folder', type=Path)
    p.add_argument('output', type=Path)
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--encoding', default='rgb8', choices=SUPPORTED_ENCODINGS)
    p.add_argument('--rate', type=float, default=10.0, help='frames per second (default 10)')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    args = p.parse_args(argv)
    if args.output.exists():
        print(f'error: {args.output} exists', file=sys.stderr)
        return 2
    try:
        n = pack_folder(args.folder, args.output, args.topic, args.encoding, args.rate,
                        args.storage)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'{n} frames -> {args.output} ({args.topic}, {args.encoding})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
