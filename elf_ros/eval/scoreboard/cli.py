"""Command line of elf_ros.eval.scoreboard: `python -m elf_ros.eval.scoreboard`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.eval.scoreboard import update_docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m elf_ros.eval.scoreboard',
        description='Rewrite the scoreboard blocks of Markdown files from a results.json.')
    parser.add_argument('results', type=Path, help='results.json written by elf_ros.eval')
    parser.add_argument('docs', type=Path, nargs='+', help='Markdown files with the markers')
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.results.read_text())
        written = update_docs(args.docs, data)
    except (OSError, ValueError) as exc:
        raise SystemExit(f'scoreboard: {exc}') from exc
    print('rewrote ' + ', '.join(map(str, written)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
