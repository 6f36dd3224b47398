"""
Tracking benchmark: `python -m elf_ros.eval.tracks` (no ROS needed; `make tracks`).

On sequences with ground-truth poses (KITTI, TUM or generic folders, elf_ros/eval/sequences.py)
it runs, at the same budget of living tracks (MAX_CNT) and minimum spacing (MIN_DIST):
- ``elf``: ELF detections through the core track manager with its defaults (mutual NN, LK
  refinement, F-RANSAC, LK bridging of up to 2 frames without a matched detection);
- ``elf-nobridge``: the same without bridging (every observation is a matched ELF detection);
- ``elf-nolk``: descriptor matches only (no refinement, no bridging);
- ``sift``: SIFT detections through the same track manager;
- ``klt``: VINS's own front end rebuilt with OpenCV (elf_ros/eval/klt_tracker.py).
Numbers per method: tracks per frame, median / 90th-percentile track length, share of tracks
living >= 5 frames, Sampson distance of every tracked correspondence under the true relative
pose, reprojection error after triangulating tracks >= 3 frames with the true poses.

    python -m elf_ros.eval.tracks --sequence ../shared/data/kitti00_turn --out results/tracks
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
import json
from pathlib import Path
import sys
import time

import numpy as np

from elf_ros.core.camera_model import CameraModel
from elf_ros.core.tracking import TrackerConfig, TrackManager
from elf_ros.eval.features import Features
from elf_ros.eval.klt_tracker import KltConfig, KltTracker
from elf_ros.eval.methods import build_method, MethodUnavailableError, parse_elf_overrides
from elf_ros.eval.sequences import load_sequence, Sequence, SequenceError
from elf_ros.eval.track_metrics import summary

METHODS = ('elf', 'elf-nobridge', 'elf-nolk', 'sift', 'klt')
NATIVE = {'input_width': 0, 'input_height': 0, 'input_long_side': 0}
FRAME_DT = 0.1  # seconds between frames given to the trackers (only velocities use it)


@dataclass
class Run:
    """One method on one sequence: the numbers, the distributions, the timings."""

    sequence: str
    method: str
    numbers: dict[str, float]
    raw: dict[str, np.ndarray] = field(repr=False)
    detect_ms: float = 0.0      # per frame (shared by elf and elf-nolk)
    track_ms: float = 0.0       # per frame
    detections: float = 0.0     # per frame


def camera_of(seq: Sequence) -> CameraModel:
    return CameraModel(seq.camera_matrix, seq.distortion, 'plumb_bob')


def track_detections(seq: Sequence, feats: list[Features], images: list[np.ndarray],
                     config: TrackerConfig) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """Run the core track manager over precomputed detections; per-frame tracks and ms/frame."""
    manager = TrackManager(camera_of(seq), config)
    out = []
    start = time.perf_counter()
    for k, (f, img) in enumerate(zip(feats, images, strict=True)):
        frame = manager.step(f.keypoints, f.descriptors, k * FRAME_DT, img)
        out.append((frame.ids, frame.pixels))
    return out, 1e3 * (time.perf_counter() - start) / max(1, len(feats))


def track_klt(seq: Sequence, images: list[np.ndarray], config: KltConfig
              ) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    tracker = KltTracker(camera_of(seq), config)
    out = []
    start = time.perf_counter()
    for img in images:
        frame = tracker.step(img)
        out.append((frame.ids, frame.pixels))
    return out, 1e3 * (time.perf_counter() - start) / max(1, len(images))


def extract(method, images: list[np.ndarray]) -> tuple[list[Features], float]:
    start = time.perf_counter()
    feats = [f for img in images for f in method.extract([img])]
    return feats, 1e3 * (time.perf_counter() - start) / max(1, len(images))


def run_sequence(seq: Sequence, methods: list[str], args: argparse.Namespace,
                 elf_overrides: dict) -> list[Run]:
    count = min(len(seq), args.limit) if args.limit > 0 else len(seq)
    images = [seq.image(i) for i in range(count)]
    poses = seq.poses[:count]
    camera = camera_of(seq)
    base = TrackerConfig(max_tracks=args.max_cnt, min_distance=args.min_dist,
                         device='cpu' if args.device == 'auto' else args.device)
    runs = []
    detectors: dict[str, tuple[list[Features], float]] = {}
    for name in methods:
        if name == 'klt':
            frames, track_ms = track_klt(seq, images, KltConfig(max_cnt=args.max_cnt,
                                                                min_dist=args.min_dist))
            detect_ms, detections = 0.0, float('nan')
        else:
            kind = 'sift' if name == 'sift' else 'elf'
            if kind not in detectors:
                spec = 'sift' if kind == 'sift' else f'elf-{args.preset}'
                method = build_method(spec, args.max_keypoints, args.device, args.weights_map,
                                      elf_overrides)
                detectors[kind] = extract(method, images)
            feats, detect_ms = detectors[kind]
            config = replace(base, refine=name != 'elf-nolk',
                             bridge=base.bridge if name in ('elf', 'sift') else 0)
            frames, track_ms = track_detections(seq, feats, images, config)
            detections = float(np.mean([len(f) for f in feats]))
        numbers, raw = summary(frames, camera, poses)
        runs.append(Run(seq.name, name, numbers, raw, detect_ms, track_ms, detections))
        print(f'{seq.name} {name}: {numbers["tracks_per_frame"]:.0f} tracks/frame, median '
              f'length {numbers["median_length"]:.1f}, Sampson > 1 px '
              f'{numbers["sampson_share_gt1"]:.3f}', file=sys.stderr)
    return runs


# -- report ------------------------------------------------------------------------------------
COLUMNS = (('tracks_per_frame', 'tracks/frame', '{:.0f}'), ('tracks', 'tracks', '{:d}'),
           ('median_length', 'len median', '{:.1f}'), ('p90_length', 'len p90', '{:.1f}'),
           ('share_ge5', 'share ≥5 frames', '{:.2f}'),
           ('median_length_per_obs', 'len median per point', '{:.1f}'),
           ('pairs', 'pairs', '{:d}'),
           ('sampson_median_px', 'Sampson median px', '{:.3f}'),
           ('sampson_share_gt1', 'share Sampson > 1 px', '{:.3f}'),
           ('reprojected', 'reproj. obs.', '{:d}'),
           ('reproj_median_px', 'reproj. median px', '{:.2f}'),
           ('reproj_p90_px', 'reproj. p90 px', '{:.2f}'))


def verdicts(runs: list[Run]) -> list[str]:
    """Check the issue's targets: ELF median track length >= KLT's, share > 1 px <= KLT's."""
    lines = []
    for seq in dict.fromkeys(r.sequence for r in runs):
        elf = next((r for r in runs if (r.sequence, r.method) == (seq, 'elf')), None)
        klt = next((r for r in runs if (r.sequence, r.method) == (seq, 'klt')), None)
        if elf is None or klt is None:
            continue
        e, k = elf.numbers, klt.numbers
        length_ok = e['median_length'] >= k['median_length']
        sampson_ok = e['sampson_share_gt1'] <= k['sampson_share_gt1']
        lines.append(
            f"{'MET' if length_ok else 'NOT MET'}: {seq}: median track length ELF "
            f"{e['median_length']:.1f} vs KLT {k['median_length']:.1f} frames")
        lines.append(
            f"{'MET' if sampson_ok else 'NOT MET'}: {seq}: share of tracked correspondences "
            f"above 1 px Sampson ELF {e['sampson_share_gt1']:.3f} vs KLT "
            f"{k['sampson_share_gt1']:.3f} ({e['pairs']} vs {k['pairs']} pairs)")
        # The median over tracks is dominated by one-frame tracks; say what a back end sees.
        lines.append(
            f"context (not a target): {seq}: track length per published point, median ELF "
            f"{e['median_length_per_obs']:.1f} vs KLT {k['median_length_per_obs']:.1f}; p90 "
            f"over tracks ELF {e['p90_length']:.1f} vs KLT {k['p90_length']:.1f}; share of "
            f"tracks >= 5 frames ELF {e['share_ge5']:.2f} vs KLT {k['share_ge5']:.2f}; "
            f"reprojection median ELF {e['reproj_median_px']:.2f} vs KLT "
            f"{k['reproj_median_px']:.2f} px")
    return lines


def markdown(runs: list[Run], lines: list[str], command: str, args: argparse.Namespace) -> str:
    out = ['# Feature tracks: ELF track manager vs VINS-style KLT vs SIFT', '',
           f'Command: `{command}`', '',
           f'Budget: at most {args.max_cnt} living tracks (MAX_CNT), {args.min_dist:g} px '
           f'between tracked points (MIN_DIST), for every method. ELF and SIFT: up to '
           f'{args.max_keypoints} detections per frame, ELF preset `{args.preset}` at native '
           'resolution. Lengths in frames (tracks alive at the end counted as they stand); '
           '"len median per point": median over every published point of the final length of '
           'its track (what a back end sees); '
           'Sampson distance of every consecutive pair of a track under the true relative '
           'pose; reprojection error of every observation of tracks >= 3 frames after DLT '
           'triangulation with the true poses (undistorted pixels). Time per frame: detection '
           '(ELF, SIFT) and tracking, one thread.', '']
    for seq in dict.fromkeys(r.sequence for r in runs):
        mine = [r for r in runs if r.sequence == seq]
        out += [f'## {seq} ({mine[0].numbers["frames"]} frames)', '']
        head = ['method', 'detections/frame'] + [c[1] for c in COLUMNS] + ['detect ms',
                                                                            'track ms']
        out += ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
        for r in mine:
            cells = [r.method, '-' if np.isnan(r.detections) else f'{r.detections:.0f}']
            cells += [fmt.format(r.numbers[key]) for key, _, fmt in COLUMNS]
            cells += [f'{r.detect_ms:.0f}', f'{r.track_ms:.1f}']
            out.append('| ' + ' | '.join(cells) + ' |')
        out.append('')
    out += ["## Targets (ELF = `elf`, the tracker's defaults)", ''] + [f'- {v}' for v in lines]
    return '\n'.join(out) + '\n'


def write_plots(out: Path, seq: str, runs: list[Run]) -> Path:
    """Track-length histogram, Sampson-distance CDF and reprojection-error CDF per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 3)
    top = max(int(r.raw['lengths'].max()) if len(r.raw['lengths']) else 1 for r in runs)
    bins = np.arange(1, top + 2) - 0.5
    for idx, r in enumerate(runs):
        colour = f'C{idx}'
        axes[0].hist(r.raw['lengths'], bins=bins, histtype='step', color=colour,
                     label=r.method)
        for ax, key in ((axes[1], 'sampson'), (axes[2], 'reprojection')):
            vals = np.sort(r.raw[key])
            if len(vals):
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), color=colour,
                        where='post', label=r.method)
    axes[0].set_xlabel('track length (frames)')
    axes[0].set_ylabel('tracks')
    axes[0].set_yscale('log')
    for ax, name in ((axes[1], 'Sampson distance (px)'), (axes[2], 'reprojection error (px)')):
        ax.set_xscale('log')
        ax.set_xlim(0.01, 100)
        ax.axvline(1.0, color='grey', lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel('share')
    axes[0].legend(fontsize=7)
    fig.suptitle(f'{seq}: track lengths and errors under ground truth')
    path = out / f'{seq}_tracks.png'
    fig.savefig(path)
    return path


# -- command line ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m elf_ros.eval.tracks',
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument('--sequence', action='append', required=True, metavar='FOLDER',
                        help='KITTI, TUM or generic sequence folder (repeat for several)')
    parser.add_argument('--methods', default=','.join(METHODS),
                        help='comma-separated subset of %(default)s')
    parser.add_argument('--preset', default='efficientnet_lite1', help='ELF preset')
    parser.add_argument('--max-keypoints', type=int, default=1000,
                        help='detections per frame for ELF and SIFT (default %(default)s)')
    parser.add_argument('--max-cnt', type=int, default=150,
                        help='living tracks per frame, every method (VINS max_cnt)')
    parser.add_argument('--min-dist', type=float, default=30.0,
                        help='pixels between tracked points, every method (VINS min_dist)')
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
        import cv2
        import torch
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        print(f'error: unknown methods {unknown}; choose from {", ".join(METHODS)}',
              file=sys.stderr)
        return 2
    try:
        sequences = [load_sequence(p) for p in args.sequence]
    except (SequenceError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    args.weights_map = dict(item.split('=', 1) for item in args.weights)
    overrides = {**NATIVE, **parse_elf_overrides(args.elf_set)}
    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    try:
        for seq in sequences:
            seq_runs = run_sequence(seq, methods, args, overrides)
            runs.extend(seq_runs)
            if not args.no_plots:
                write_plots(args.out, seq.name, seq_runs)
    except MethodUnavailableError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    lines = verdicts(runs)
    command = 'python -m elf_ros.eval.tracks ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    (args.out / 'results.md').write_text(markdown(runs, lines, command, args))
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
