"""
Relative-pose benchmark: `python -m elf_ros.eval.motion` (no ROS needed; `make motion`).

For each sequence (KITTI, TUM or generic folder, see elf_ros/eval/sequences.py), each method
and each frame gap k, frame i is matched with frame i+k (core matcher, mutual nearest
neighbours), the essential matrix is estimated with OpenCV USAC MAGSAC (seeded) in source
pixels with the sequence's intrinsics, and the recovered pose is compared with ground truth.

    python -m elf_ros.eval.motion --sequence ../shared/data/kitti_seq1 \
        --sequence ../shared/data/tum_fr2_desk_seq --out results/motion
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path
import sys
import time

import numpy as np

from elf_ros.core.matching import match_descriptors
from elf_ros.core.pose import direction_error_deg, estimate_relative_pose, rotation_error_deg
from elf_ros.eval.features import Features
from elf_ros.eval.methods import (
    build_method,
    ELF_PREFIX,
    Method,
    MethodUnavailableError,
    parse_elf_overrides,
)
from elf_ros.eval.sequences import load_sequence, Sequence, SequenceError

GAPS = (1, 2, 5)
MIN_INLIERS = 15
MAX_ERROR_DEG = 10.0
CLASSICAL = ('sift', 'orb', 'akaze')
# ELF keypoints with SIFT descriptors: tells the detector's share from the descriptor's.
HYBRIDS = ('elf-efficientnet_lite0+sift',)
# Native resolution for ELF: frames keep their size and aspect ratio (KITTI is 1226x370).
NATIVE = {'input_width': 0, 'input_height': 0, 'input_long_side': 0}


@dataclass
class PairResult:
    """One pair (i, i+k): errors in degrees (nan when no pose), matches, inliers."""

    i: int
    j: int
    rotation_error: float
    translation_error: float
    matches: int
    inliers: int
    seconds: float  # matching + pose estimation
    rotation: np.ndarray | None = field(default=None, repr=False)  # estimated R (not saved)

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != 'rotation'}

    @property
    def failed(self) -> bool:
        return (self.inliers < MIN_INLIERS or not self.rotation_error <= MAX_ERROR_DEG
                or not self.translation_error <= MAX_ERROR_DEG)


@dataclass
class Run:
    """One method on one sequence: pairs per gap, extraction time, chained rotations."""

    sequence: str
    method: str
    weights: str
    extract_seconds: float = 0.0  # per frame
    keypoints: float = 0.0        # mean per frame
    pairs: dict[int, list[PairResult]] = field(default_factory=dict)
    error: str = ''


def summarise(pairs: list[PairResult]) -> dict[str, float]:
    """Median errors, inliers and failure share over a gap's pairs (failures included)."""
    if not pairs:
        return {}
    rot = np.array([p.rotation_error for p in pairs])
    tra = np.array([p.translation_error for p in pairs])
    # A pair without a pose counts as 180 deg: the median must not hide failures.
    return {
        'pairs': len(pairs),
        'failed': int(sum(p.failed for p in pairs)),
        'failure_pct': 100.0 * sum(p.failed for p in pairs) / len(pairs),
        'median_rotation_error_deg': float(np.median(np.nan_to_num(rot, nan=180.0))),
        'median_translation_error_deg': float(np.median(np.nan_to_num(tra, nan=180.0))),
        'median_inliers': float(np.median([p.inliers for p in pairs])),
        'median_matches': float(np.median([p.matches for p in pairs])),
        'pose_ms': 1e3 * float(np.mean([p.seconds for p in pairs])),
    }


def evaluate_pair(seq: Sequence, f1: Features, f2: Features, i: int, j: int,
                  seed: int) -> PairResult:
    start = time.perf_counter()
    m = match_descriptors(f1.descriptors, f2.descriptors) if len(f1) and len(f2) else None
    pose = None
    if m is not None and len(m) >= 5:
        pose = estimate_relative_pose(f1.keypoints[m.pairs[:, 0]], f2.keypoints[m.pairs[:, 1]],
                                      seq.camera_matrix, seq.distortion, seed=seed)
    seconds = time.perf_counter() - start
    if pose is None:
        return PairResult(i, j, float('nan'), float('nan'), len(m) if m else 0, 0, seconds)
    rot_gt, t_gt = seq.relative_pose(i, j)
    return PairResult(i, j, rotation_error_deg(pose.rotation, rot_gt),
                      direction_error_deg(pose.translation, t_gt), len(m),
                      int(pose.inliers.sum()), seconds, pose.rotation)


def run_method(seq: Sequence, method: Method, gaps: tuple[int, ...], seed: int,
               limit: int = 0) -> Run:
    """Extract every frame once, then score every pair (i, i+k)."""
    count = min(len(seq), limit) if limit > 0 else len(seq)
    run = Run(seq.name, method.name, method.weights)
    feats: list[Features] = []
    start = time.perf_counter()
    for index in range(count):
        feats.extend(method.extract([seq.image(index)]))
    run.extract_seconds = (time.perf_counter() - start) / count
    run.keypoints = float(np.mean([len(f) for f in feats]))
    for k in gaps:
        run.pairs[k] = [evaluate_pair(seq, feats[i], feats[i + k], i, i + k, seed + i)
                        for i in range(count - k)]
    return run


def chained_rotation_angles(seq: Sequence,
                            pairs: list[PairResult]) -> tuple[np.ndarray, np.ndarray]:
    """
    Angle (deg) of frame j's orientation w.r.t. frame 0: chained k=1 estimates vs ground truth.

    A pair without a pose contributes the identity (the drift it causes shows in the plot).
    """
    chained, est, gt = np.eye(3), [0.0], [0.0]
    for p in pairs:
        chained = (p.rotation if p.rotation is not None else np.eye(3)) @ chained
        est.append(rotation_error_deg(chained, np.eye(3)))
        gt.append(rotation_error_deg(seq.relative_pose(0, p.j)[0], np.eye(3)))
    return np.array(est), np.array(gt)


# -- reports -----------------------------------------------------------------------------------
COLUMNS = (('failure_pct', 'fail %', '{:.0f}'),
           ('median_rotation_error_deg', 'rot err median °', '{:.2f}'),
           ('median_translation_error_deg', 't dir err median °', '{:.2f}'),
           ('median_inliers', 'inliers median', '{:.0f}'),
           ('median_matches', 'matches median', '{:.0f}'))


def table_rows(runs: list[Run]) -> list[dict]:
    rows = []
    for run in runs:
        for k, pairs in sorted(run.pairs.items()):
            rows.append({'sequence': run.sequence, 'k': k, 'method': run.method,
                         'weights': run.weights, 'keypoints': run.keypoints,
                         'extract_ms': 1e3 * run.extract_seconds, **summarise(pairs)})
    return rows


def markdown(rows: list[dict], runs: list[Run], unavailable: dict[str, str],
             verdicts: list[str], command: str) -> str:
    out = ['# Relative pose: ELF vs classical features', '', f'Command: `{command}`', '',
           f'A pair fails with fewer than {MIN_INLIERS} inliers or a rotation or translation-'
           f'direction error over {MAX_ERROR_DEG:.0f}°; a pair without a pose counts as 180° in '
           'the medians. Time: feature extraction per frame, then matching + pose per pair.', '']
    for seq in dict.fromkeys(r['sequence'] for r in rows):
        out += [f'## {seq}', '']
        head = ['k', 'method', 'keypoints'] + [c[1] for c in COLUMNS] + ['extract ms',
                                                                          'match+pose ms']
        out += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * 2 + '---:|' * (len(head) - 2)]
        for r in (r for r in rows if r['sequence'] == seq):
            cells = [str(r['k']), r['method'], f"{r['keypoints']:.0f}"]
            cells += [fmt.format(r[key]) for key, _, fmt in COLUMNS]
            cells += [f"{r['extract_ms']:.0f}", f"{r['pose_ms']:.1f}"]
            out.append('| ' + ' | '.join(cells) + ' |')
        out.append('')
    if unavailable:
        out += ['Not run:', ''] + [f'- {m}: {why}' for m, why in unavailable.items()] + ['']
    out += ['## Target: best ELF preset vs SIFT (k = 1 and 5)', ''] + [f'- {v}' for v in verdicts]
    weights = {r.method: r.weights for r in runs}
    out += ['', 'Weights: ' + '; '.join(f'{m}: {w}' for m, w in weights.items()), '']
    return '\n'.join(out)


def verdicts(rows: list[dict], gaps: tuple[int, ...] = (1, 5)) -> tuple[str | None, list[str]]:
    """
    Pick ELF's best preset (fewest failures, then lowest median rotation error); compare.

    Only plain presets compete: a hybrid with SIFT descriptors is not ELF's own matching.
    """
    elf = sorted({r['method'] for r in rows
                  if r['method'].startswith(ELF_PREFIX) and '+' not in r['method']})
    if not elf or not any(r['method'] == 'sift' for r in rows):
        return None, ['needs an ELF preset and SIFT in the run']

    def total(method: str) -> tuple[float, float]:
        mine = [r for r in rows if r['method'] == method and r['k'] in gaps]
        return (sum(r['failed'] for r in mine),
                sum(r['median_rotation_error_deg'] for r in mine))

    best = min(elf, key=total)
    lines = []
    for seq in dict.fromkeys(r['sequence'] for r in rows):
        for k in gaps:
            e = next((r for r in rows if (r['sequence'], r['k'], r['method']) == (seq, k, best)),
                     None)
            s = next((r for r in rows
                      if (r['sequence'], r['k'], r['method']) == (seq, k, 'sift')), None)
            if e is None or s is None:
                continue
            ok = (e['failed'] <= s['failed']
                  and e['median_rotation_error_deg'] <= s['median_rotation_error_deg'])
            lines.append(
                f"{'MET' if ok else 'NOT MET'}: {seq} k={k}: {best} fails {e['failed']}/"
                f"{e['pairs']} (SIFT {s['failed']}/{s['pairs']}), median rotation error "
                f"{e['median_rotation_error_deg']:.2f}° "
                f"(SIFT {s['median_rotation_error_deg']:.2f}°)")
    return best, lines


def write_plots(out: Path, seq: Sequence, runs: list[Run]) -> list[Path]:
    """Error CDFs (k=1 solid, largest k dashed), inliers per frame and chained rotations."""
    from matplotlib.figure import Figure

    paths = []
    fig = Figure(figsize=(10, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 2)
    gaps = sorted(runs[0].pairs)
    for idx, run in enumerate(runs):
        colour = f'C{idx}'
        for k, style in ((gaps[0], '-'), (gaps[-1], '--')):
            for ax, attr in zip(axes, ('rotation_error', 'translation_error'), strict=True):
                vals = np.sort(np.nan_to_num([getattr(p, attr) for p in run.pairs[k]], nan=180))
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), style, color=colour,
                        where='post', label=f'{run.method} k={k}')
    for ax, name in zip(axes, ('rotation error (deg)', 'translation direction error (deg)'),
                        strict=True):
        ax.set_xscale('log')
        ax.set_xlim(0.01, 180)
        ax.set_xlabel(name)
        ax.set_ylabel('share of pairs')
        ax.axvline(MAX_ERROR_DEG, color='grey', lw=0.8)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(f'{seq.name}: error CDFs')
    paths.append(out / f'{seq.name}_error_cdf.png')
    fig.savefig(paths[-1])

    fig = Figure(figsize=(10, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 2)
    for idx, run in enumerate(runs):
        pairs = run.pairs[gaps[0]]
        axes[0].plot([p.i for p in pairs], [p.inliers for p in pairs], color=f'C{idx}',
                     label=run.method)
        est, gt = chained_rotation_angles(seq, pairs)
        axes[1].plot(est, color=f'C{idx}', label=run.method)
    axes[1].plot(gt, 'k--', label='ground truth')
    axes[0].axhline(MIN_INLIERS, color='grey', lw=0.8)
    axes[0].set_xlabel('frame i (pair i, i+1)')
    axes[0].set_ylabel('inliers')
    axes[0].set_yscale('log')
    axes[1].set_xlabel('frame')
    axes[1].set_ylabel('rotation from frame 0 (deg)')
    axes[1].set_title('chained relative rotations (k=1)', fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f'{seq.name}: inliers per frame and chained rotation')
    paths.append(out / f'{seq.name}_inliers_trajectory.png')
    fig.savefig(paths[-1])
    return paths


# -- command line ------------------------------------------------------------------------------
def default_methods() -> list[str]:
    from elf_ros.core import PRESETS
    return [ELF_PREFIX + p for p in PRESETS] + list(HYBRIDS) + list(CLASSICAL)


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
    try:
        sequences = [load_sequence(p) for p in args.sequence]
    except (SequenceError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    overrides = {**NATIVE, **parse_elf_overrides(args.elf_set)}
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
            run = run_method(seq, method, gaps, args.seed, args.limit)
            seq_runs.append(run)
            print(f'{seq.name} {method.name}: {run.keypoints:.0f} keypoints, '
                  f'{1e3 * run.extract_seconds:.0f} ms/frame', file=sys.stderr)
        runs.extend(seq_runs)
        if not args.no_plots:
            write_plots(args.out, seq, seq_runs)
    rows = table_rows(runs)
    best, lines = verdicts(rows)
    command = 'python -m elf_ros.eval.motion ' + ' '.join(argv if argv is not None
                                                          else sys.argv[1:])
    (args.out / 'results.md').write_text(markdown(rows, runs, unavailable, lines, command))
    (args.out / 'results.json').write_text(json.dumps({
        'command': command, 'rows': rows, 'best_elf': best, 'target': lines,
        'unavailable': unavailable,
        'pairs': [{'sequence': r.sequence, 'method': r.method, 'k': k,
                   'pairs': [p.record() for p in ps]} for r in runs for k, ps in r.pairs.items()],
    }, indent=1))
    print((args.out / 'results.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
