"""Command line of elf_ros.eval.compact_formats: `python -m elf_ros.eval.compact_formats`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.core import parse_assignments
from elf_ros.eval import datasets as ds
from elf_ros.eval.compact_formats import score_formats
from elf_ros.eval.methods import build_method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m elf_ros.eval.compact_formats',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', type=Path, action='append', required=True,
                        help='Oxford folder (one sequence or a folder of them); repeatable')
    parser.add_argument('--methods', default='elf-efficientnet_lite1,elf-random')
    parser.add_argument('--max-keypoints', type=int, default=500)
    parser.add_argument('--limit', type=int, default=0, help='first N pairs only')
    parser.add_argument('--elf-set', action='append', default=[], metavar='FIELD=VALUE')
    parser.add_argument('--out', type=Path, default=None, help='write results.md/json here')
    args = parser.parse_args(argv)
    dataset = ds.Dataset('oxford', [src for path in args.dataset
                                    for src in ds.load_oxford(path).sources])
    lines = ['| method | format | bytes/keypoint (descriptor) | MS % | MNN-MS % | correct '
             'matches |', '|---|---|---:|---:|---:|---:|']
    results = {}
    for spec in args.methods.split(','):
        method = build_method(spec.strip(), args.max_keypoints,
                              elf_overrides=parse_assignments(args.elf_set))
        results[method.name] = score_formats(dataset, method, args.limit)
        for fmt, r in results[method.name].items():
            lines.append(f"| {method.name} | {fmt} | {r['descriptor_bytes_per_keypoint']} | "
                         f"{r['ms']:.2f} | {r['mnn_ms']:.2f} | {r['correct']:.1f} |")
    table = '\n'.join(lines)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / 'results.md').write_text(table + '\n')
        (args.out / 'results.json').write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
