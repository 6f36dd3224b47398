"""
Command line of the relative-pose benchmark: `elf-motion` / `python -m elf_ros.eval.motion`.

No ROS needed (`make motion`):

    python -m elf_ros.eval.motion --sequence ../shared/data/kitti_seq1 \
        --sequence ../shared/data/tum_fr2_desk_seq --out results/motion
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.core import PRESETS
from elf_ros.eval.methods import (
    build_method,
    ELF_PREFIX,
    Method,
    MethodUnavailableError,
)
from elf_ros.eval.motion.plots import write_plots
from elf_ros.eval.motion.report import markdown
from elf_ros.eval.motion.runner import (
    CLASSICAL,
    DEFAULT_REFINE,
    DEFAULT_REFINEMENTS,
    GAPS,
    HYBRIDS,
    OFFLINE_DEFAULT,
    REFINEMENTS,
    Run,
    run_method,
)
from elf_ros.eval.motion.summary import (
    motion_targets,
    PER_PAIR_KEYS,
    table_rows,
    TARGET_GAPS,
)
from elf_ros.eval.sequences import sequences_and_overrides


def default_methods() -> list[str]:
    return [ELF_PREFIX + p for p in PRESETS] + list(HYBRIDS) + list(CLASSICAL)


def plotted(runs: list[Run]) -> list[Run]:
    """Unrefined runs, plus the refined ones of the offline default and SIFT (legible plots)."""
    return [r for r in runs if r.refine == 'none' or r.method in (OFFLINE_DEFAULT, 'sift')]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m elf_ros.eval.motion',
        description='Relative pose (essential matrix, USAC MAGSAC) of ELF and classical '
        'features on sequences with ground-truth poses.')
    parser.add_argument('--sequence', action='append', required=True, metavar='FOLDER',
                        help='KITTI, TUM or generic sequence folder (repeat for several)')
    parser.add_argument('--methods', default=','.join(default_methods()),
                        help='comma-separated, as elf-eval names them (default: every ELF '
                        'preset, %(default)s; presets without weights here are listed as not '
                        'run)')
    parser.add_argument('--gaps', default=','.join(map(str, GAPS)),
                        help='frame gaps k (default: %(default)s)')
    parser.add_argument('--refine', default=','.join(DEFAULT_REFINEMENTS),
                        help=f'refinements of the matched positions, rows for each (of '
                        f'{", ".join(REFINEMENTS)}; default %(default)s); the target uses '
                        f'{DEFAULT_REFINE!r}')
    parser.add_argument('--max-keypoints', type=int, default=1000,
                        help='keypoint budget of every method (default %(default)s)')
    parser.add_argument('--limit', type=int, default=0, help='use only the first N frames')
    parser.add_argument('--device', default='auto', help='ELF device: auto, cpu, cuda')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--weights', action='append', default=[], metavar='PRESET=PATH',
                        help='local weights file for an ELF preset')
    parser.add_argument('--elf-set', action='append', default=[], metavar='FIELD=VALUE',
                        help='detector-config change for every ELF method (default: native '
                        'input size, input_width=0 input_height=0 input_long_side=0; e.g. '
                        'input_long_side=640 for an aspect-preserving resize)')
    parser.add_argument('--seed', type=int, default=0, help='RANSAC seed (pair i uses seed+i)')
    parser.add_argument('--out', type=Path, default=Path('motion_results'))
    parser.add_argument('--no-plots', action='store_true')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    gaps = tuple(int(g) for g in args.gaps.split(','))
    refinements = tuple(r.strip() for r in args.refine.split(',') if r.strip())
    if not refinements or set(refinements) - set(REFINEMENTS):
        print(f'error: --refine takes {", ".join(REFINEMENTS)}, got {args.refine!r}',
              file=sys.stderr)
        return 2
    try:
        sequences, overrides = sequences_and_overrides(args.sequence, args.elf_set)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    weights = dict(item.split('=', 1) for item in args.weights)
    methods: list[Method] = []
    unavailable: dict[str, str] = {}
    for spec in (m.strip() for m in args.methods.split(',') if m.strip()):
        try:
            methods.append(build_method(spec, args.max_keypoints, args.device, weights,
                                        overrides))
        except MethodUnavailableError as err:
            unavailable[spec] = str(err)
            print(f'skipping {spec}: {err}', file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    for seq in sequences:
        seq_runs = []
        for method in methods:
            method_runs = run_method(seq, method, gaps, args.seed, args.limit, refinements)
            seq_runs.extend(method_runs)
            print(f'{seq.name} {method.name}: {method_runs[0].keypoints:.0f} keypoints, '
                  f'{1e3 * method_runs[0].extract_seconds:.0f} ms/frame', file=sys.stderr)
        runs.extend(seq_runs)
        if not args.no_plots:
            write_plots(args.out, seq, plotted(seq_runs))
    rows = table_rows(runs)
    targets = motion_targets(rows, refine=DEFAULT_REFINE if DEFAULT_REFINE in refinements
                             else refinements[0],
                             gaps=tuple(g for g in TARGET_GAPS if g in gaps) or gaps)
    command = 'python -m elf_ros.eval.motion ' + ' '.join(argv if argv is not None
                                                          else sys.argv[1:])
    (args.out / 'results.md').write_text(markdown(rows, runs, unavailable, targets, command))
    (args.out / 'results.json').write_text(json.dumps({
        'command': command,
        'rows': [{k: v for k, v in r.items() if k not in PER_PAIR_KEYS} for r in rows],
        'target': [{'met': ok, 'line': line} for ok, line in targets],
        'unavailable': unavailable,
        'pairs': [{'sequence': r.sequence, 'method': r.method, 'refine': r.refine, 'k': k,
                   'pairs': [p.record() for p in ps]} for r in runs for k, ps in r.pairs.items()],
    }, indent=1))
    print((args.out / 'results.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
