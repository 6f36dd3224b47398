"""Command line of the tracking benchmark: `python -m elf_ros.eval.tracks` (`make tracks`)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from elf_ros.core import TrackerConfig
from elf_ros.eval.methods import MethodUnavailableError
from elf_ros.eval.sequences import sequences_and_overrides
from elf_ros.eval.tracks.klt import KltConfig
from elf_ros.eval.tracks.report import markdown, verdicts, write_plots
from elf_ros.eval.tracks.runner import METHODS, Run, run_sequence, Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m elf_ros.eval.tracks',
                                     description='Feature tracks of ELF, SIFT and a VINS-style '
                                     'KLT front end under ground-truth poses.')
    parser.add_argument('--sequence', action='append', required=True, metavar='FOLDER',
                        help='KITTI, TUM or generic sequence folder (repeat for several)')
    parser.add_argument('--methods', default=','.join(METHODS),
                        help='comma-separated subset of %(default)s')
    parser.add_argument('--preset', default='efficientnet_lite1', help='ELF preset')
    parser.add_argument('--max-keypoints', type=int, default=1000,
                        help='detections per frame for ELF and SIFT (default %(default)s)')
    parser.add_argument('--max-cnt', type=int, default=TrackerConfig().max_tracks,
                        help='living tracks per frame, every method (VINS max_cnt)')
    parser.add_argument('--min-dist', type=float, default=TrackerConfig().min_distance,
                        help='pixels between tracked points, every method (VINS min_dist)')
    parser.add_argument('--bridge', type=int, default=TrackerConfig().bridge,
                        help="frames an ELF/SIFT track may go on by LK alone (the tracker's "
                        'bridge; default %(default)s)')
    parser.add_argument('--limit', type=int, default=0, help='use only the first N frames')
    parser.add_argument('--device', default='cpu', help='ELF and matcher device')
    parser.add_argument('--threads', type=int, default=0, help='torch/OpenCV threads (0: keep)')
    parser.add_argument('--weights', action='append', default=[], metavar='PRESET=PATH')
    parser.add_argument('--elf-set', action='append', default=[], metavar='FIELD=VALUE',
                        help='detector-config change (default: native input size)')
    parser.add_argument('--out', type=Path, default=Path('tracks_results'))
    parser.add_argument('--no-plots', action='store_true')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads > 0:
        from elf_ros.core import set_cpu_threads  # noqa: PLC0415 - torch on demand
        set_cpu_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        print(f'error: unknown methods {unknown}; choose from {", ".join(METHODS)}',
              file=sys.stderr)
        return 2
    try:
        sequences, overrides = sequences_and_overrides(args.sequence, args.elf_set)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    settings = Settings(args.max_cnt, args.min_dist, args.max_keypoints, args.preset,
                        args.device, args.limit,
                        dict(item.split('=', 1) for item in args.weights), overrides,
                        args.bridge)
    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    try:
        for seq in sequences:
            seq_runs = run_sequence(seq, methods, settings)
            runs.extend(seq_runs)
            if not args.no_plots:
                write_plots(args.out, seq.name, seq_runs)
    except MethodUnavailableError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    lines = verdicts(runs)
    command = 'python -m elf_ros.eval.tracks ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    (args.out / 'results.md').write_text(markdown(runs, lines, command, settings))
    (args.out / 'results.json').write_text(json.dumps({
        'command': command, 'target': lines,
        'settings': {'max_cnt': args.max_cnt, 'min_dist': args.min_dist,
                     'max_keypoints': args.max_keypoints, 'preset': args.preset,
                     'klt': KltConfig(max_cnt=args.max_cnt, min_dist=args.min_dist).__dict__},
        'rows': [{'sequence': r.sequence, 'method': r.method, **r.numbers,
                  'detections_per_frame': r.detections, 'detect_ms': r.detect_ms,
                  'track_ms': r.track_ms} for r in runs],
    }, indent=1, default=float))
    print((args.out / 'results.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())

