"""Command line of elf_ros.eval.refinement: `python -m elf_ros.eval.refinement`."""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

from elf_ros.core import RefineConfig
from elf_ros.eval import datasets as ds
from elf_ros.eval.groups import group_of, group_order
from elf_ros.eval.methods import build_method, MethodUnavailableError
from elf_ros.eval.refinement import (
    markdown,
    score_pair,
    summarise,
    VARIANTS,
    VariantScores,
)
from elf_ros.eval.report import write_rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m elf_ros.eval.refinement',
        description='Localisation and homography accuracy of MNN matches with and without '
        'LK refinement (plain, or pre-warped by an estimated homography).')
    parser.add_argument('--dataset', action='append', required=True, metavar='KIND:PATH',
                        help='oxford:DIR or hpatches:DIR (repeatable)')
    parser.add_argument('--methods', default='elf-efficientnet_lite1,sift')
    parser.add_argument('--variants', default=','.join(VARIANTS))
    parser.add_argument('--max-keypoints', type=int, default=1000)
    parser.add_argument('--weights', action='append', default=[], metavar='PRESET=PATH')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--limit', type=int, default=0, help='first N pairs of each dataset')
    parser.add_argument('--max-shift', type=float, default=RefineConfig.max_shift,
                        help='drop a match LK moves further, px (default %(default)s)')
    parser.add_argument('--out', type=Path, default=Path('refinement_results'))
    return parser


def load(spec: str) -> ds.Dataset:
    kind, _, path = spec.partition(':')
    loaders = {'oxford': ds.load_oxford, 'hpatches': ds.load_hpatches}
    if kind not in loaders:
        raise SystemExit(f'--dataset expects oxford:DIR or hpatches:DIR, got {spec!r}')
    return loaders[kind](Path(path))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    variants = tuple(v.strip() for v in args.variants.split(',') if v.strip())
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f'unknown variants {sorted(unknown)}; choose from {VARIANTS}')
    weights = dict(item.split('=', 1) for item in args.weights)
    methods = []
    for spec in (m.strip() for m in args.methods.split(',') if m.strip()):
        try:
            methods.append(build_method(spec, args.max_keypoints, args.device, weights))
        except MethodUnavailableError as err:
            print(f'skipping {spec}: {err}', file=sys.stderr)
    config = RefineConfig(max_shift=args.max_shift)
    scores: dict[tuple[str, str, str], list[VariantScores]] = {}
    for dataset in (load(s) for s in args.dataset):
        for index, source in enumerate(dataset.sources):
            if args.limit and index >= args.limit:
                break
            pair = source.load()
            for method in methods:
                f1, f2 = method.extract([pair.image1, pair.image2])
                for variant, s in score_pair(pair, f1, f2, variants, config).items():
                    for group in (group_of(pair.sequence), 'all'):
                        scores.setdefault((group, method.name, variant), []).append(s)
    groups = group_order({g for g, _, _ in scores if g != 'all'}) + ['all']
    rows = [{'group': g, 'method': m.name, 'variant': v, **summarise(scores[(g, m.name, v)])}
            for g in groups for m in methods for v in variants if (g, m.name, v) in scores]
    return write_rows(args.out, 'elf_ros.eval.refinement', argv, rows, markdown)


if __name__ == '__main__':
    sys.exit(main())
