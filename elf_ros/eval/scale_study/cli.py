"""Command line of the scale study: `python -m elf_ros.eval.scale_study` (a Markdown table)."""
from __future__ import annotations

import argparse
from pathlib import Path

from elf_ros.eval.datasets import load_oxford
from elf_ros.eval.methods import build_method
from elf_ros.eval.scale_study import level_scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog='python -m elf_ros.eval.scale_study',
        description='Per-pyramid-level repeatability and correct matches of a zoom sequence.')
    p.add_argument('--sequence', type=Path, required=True, help='an Oxford-layout sequence')
    p.add_argument('--methods', default='elf-efficientnet_lite1')
    p.add_argument('--levels', default='1,0.71,0.5,0.35',
                   help='shrink factors of the larger-scale image (comma-separated)')
    p.add_argument('--max-keypoints', type=int, default=500)
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)
    levels = [float(v) for v in args.levels.split(',')]
    pairs = [s.load() for s in load_oxford(args.sequence).sources]
    print('zoom: local scale of H at the centre of image 1 (< 1: image 2 shows the scene '
          'smaller); cells: repeatability % / correct MNN matches (5 px)\n')
    print('| method | pair | zoom | rot deg | ' + ' | '.join(
        f'f={f:g} rep % / correct' for f in levels) + ' |')
    print('|---|---|---:|---:|' + '---:|' * len(levels))
    for spec in args.methods.split(','):
        method = build_method(spec.strip(), args.max_keypoints, args.device)
        for pair in pairs:
            zoom, rot, scores = level_scores(method, pair, levels)
            cells = [f'{100 * s.repeatability:.0f} / {s.mnn_correct}' for s in scores]
            print(f'| {method.name} | {pair.name} | {zoom:.2f} | {rot:.0f} | '
                  + ' | '.join(cells) + ' |', flush=True)
    return 0
