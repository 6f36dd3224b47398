"""Command line of the pair-by-pair comparison of two motion runs (docs/motion.md)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.eval.motion import compare as cmp
from elf_ros.eval.motion.runner import DEFAULT_REFINE, OFFLINE_DEFAULT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m elf_ros.eval.motion.compare_cli',
                                     description=cmp.__doc__.strip().splitlines()[0])
    parser.add_argument('a', type=Path, help="run A's results.json")
    parser.add_argument('b', type=Path, help="run B's results.json")
    parser.add_argument('--method', default=OFFLINE_DEFAULT,
                        help='method of both runs (default %(default)s)')
    parser.add_argument('--method-b', default=None, help="B's method when it differs")
    parser.add_argument('--refine', default=DEFAULT_REFINE,
                        help='refinement rows to compare (default %(default)s)')
    args = parser.parse_args(argv)
    try:
        a, b = (json.loads(p.read_text()) for p in (args.a, args.b))
    except (OSError, ValueError) as err:
        print(f'error: cannot read a results.json: {err}', file=sys.stderr)
        return 2
    cells = cmp.compare(a, b, args.method, args.refine, args.method_b)
    if not cells:
        print(f'error: no sequence and gap with pairs of {args.method} [{args.refine}] in both '
              'runs', file=sys.stderr)
        return 1
    label = f'{args.method} [{args.refine}]'
    print(cmp.markdown(cells, f"{label}: {a.get('command', args.a)}",
                       f"{args.method_b or args.method} [{args.refine}]: "
                       f"{b.get('command', args.b)}"))
    return 0


if __name__ == '__main__':
    sys.exit(main())
