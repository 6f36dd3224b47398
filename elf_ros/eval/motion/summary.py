"""Summaries of relative-pose runs: per-gap medians and failures, rows, the SIFT targets."""
from __future__ import annotations

import numpy as np

from elf_ros.eval.methods import ELF_PREFIX
from elf_ros.eval.motion.runner import DEFAULT_REFINE, OFFLINE_DEFAULT, PairResult, Run

TARGET_GAPS = (1, 2, 5)
# Per-pair values in a row (for paired comparisons); results.json keeps them under 'pairs'.
PER_PAIR_KEYS = ('pair_ids', 'rotation_errors_deg', 'translation_errors_deg')
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


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
        # after refinement (what the pose was estimated from); the matches when unrefined
        'median_used': float(np.median([p.matches if p.used < 0 else p.used for p in pairs])),
        'pose_ms': 1e3 * float(np.mean([p.seconds for p in pairs])),
        # per pair, failures as 180 deg: for paired comparisons between methods
        'pair_ids': [[p.i, p.j] for p in pairs],
        'rotation_errors_deg': np.nan_to_num(rot, nan=180.0).round(4).tolist(),
        'translation_errors_deg': np.nan_to_num(tra, nan=180.0).round(4).tolist(),
    }


def table_rows(runs: list[Run]) -> list[dict]:
    rows = []
    for run in runs:
        for k, pairs in sorted(run.pairs.items()):
            rows.append({'sequence': run.sequence, 'k': k, 'method': run.method,
                         'refine': run.refine, 'weights': run.weights, 'keypoints': run.keypoints,
                         'extract_ms': 1e3 * run.extract_seconds, **summarise(pairs)})
    return rows


def verdicts(rows: list[dict], gaps: tuple[int, ...] = (1, 5)) -> tuple[str | None, list[str]]:
    """
    Pick ELF's best preset (fewest failures, then lowest median rotation error); compare.

    Only plain presets compete: a hybrid with SIFT descriptors is not ELF's own matching. Only
    unrefined rows count (the issue-8 target predates the refinement stage).
    """
    rows = [r for r in rows if r.get('refine', 'none') == 'none']
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


def median_difference_interval(mine: list[float], theirs: list[float], level: float = 0.9,
                               resamples: int = BOOTSTRAP_RESAMPLES,
                               seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """
    Median(mine) - median(theirs) over the same pairs, with a paired bootstrap interval.

    Resampling pairs (both methods' errors of a pair together) says how much of a difference
    between two medians a sequence of 15-50 pairs can tell apart from chance: an interval that
    holds 0 means this sample cannot order the two methods. Seeded: the same rows give the same
    interval. Returns (difference, low, high).
    """
    a, b = np.asarray(mine, np.float64), np.asarray(theirs, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f'paired samples must have one equal, non-zero length: {a.size}, '
                         f'{b.size}')
    idx = np.random.default_rng(seed).integers(0, a.size, (resamples, a.size))
    diffs = np.median(a[idx], axis=1) - np.median(b[idx], axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(np.median(a) - np.median(b)), float(low), float(high)


def _paired_note(mine: dict, sift: dict) -> str:
    """' | ELF - SIFT medians, 90 % paired bootstrap: ...' or '' when the pairs differ."""
    if mine.get('pair_ids') is None or mine.get('pair_ids') != sift.get('pair_ids'):
        return ''
    parts = []
    for key, name in (('rotation_errors_deg', 'rot'), ('translation_errors_deg', 't-dir')):
        d, low, high = median_difference_interval(mine[key], sift[key])
        noise = ' (within noise)' if low <= 0 <= high else ''
        parts.append(f'{name} {d:+.3f}° [{low:+.3f}, {high:+.3f}]{noise}')
    return ' | minus SIFT, 90 % paired bootstrap: ' + ', '.join(parts)


def _row(rows: list[dict], seq: str, k: int, method: str, refine: str) -> dict | None:
    return next((r for r in rows if (r['sequence'], r['k'], r['method'], r.get('refine', 'none'))
                 == (seq, k, method, refine)), None)


def motion_targets(rows: list[dict], method: str = OFFLINE_DEFAULT,
                   refine: str = DEFAULT_REFINE,
                   gaps: tuple[int, ...] = TARGET_GAPS) -> list[tuple[bool, str]]:
    """
    Check the issue-16 motion target per sequence and gap: (met, line).

    ``method`` with the benchmark's default refinement fails on no more pairs than SIFT and has
    median rotation and translation-direction errors no larger than SIFT's (SIFT refined the
    same way: the stage is detector-agnostic). Plain SIFT's numbers are quoted too, and the
    median differences with their paired bootstrap intervals (:func:`median_difference_interval`;
    the verdict itself stays the strict comparison the issue asks for). A missing row is
    reported as not met.
    """
    out = []
    for seq in dict.fromkeys(r['sequence'] for r in rows):
        for k in gaps:
            mine = _row(rows, seq, k, method, refine)
            sift = _row(rows, seq, k, 'sift', refine)
            plain = _row(rows, seq, k, 'sift', 'none')
            if mine is None or sift is None:
                out.append((False, f'NOT MET: {seq} k={k}: no {method} [{refine}] or sift '
                            f'[{refine}] row in this run'))
                continue
            checks = [mine['failed'] <= sift['failed'],
                      mine['median_rotation_error_deg'] <= sift['median_rotation_error_deg'],
                      mine['median_translation_error_deg']
                      <= sift['median_translation_error_deg']]
            line = (f"{'MET' if all(checks) else 'NOT MET'}: {seq} k={k} ({mine['pairs']} "
                    f"pairs): {method} [{refine}] fails {mine['failed']}, rot "
                    f"{mine['median_rotation_error_deg']:.3f}°, t-dir "
                    f"{mine['median_translation_error_deg']:.3f}° | sift [{refine}] "
                    f"{sift['failed']}, {sift['median_rotation_error_deg']:.3f}°, "
                    f"{sift['median_translation_error_deg']:.3f}°")
            if plain is not None and refine != 'none':
                line += (f" | sift unrefined {plain['failed']}, "
                         f"{plain['median_rotation_error_deg']:.3f}°, "
                         f"{plain['median_translation_error_deg']:.3f}°")
            out.append((all(checks), line + _paired_note(mine, sift)))
    return out
