"""
Pair-by-pair comparison of two relative-pose runs: is variant A better than B, or noise.

Why: on 15-50 pairs per cell, the MET / NOT MET count of the SIFT target swings with one
detector parameter (docs/core.md, "The fine preset at 1.5x"). Two `elf-motion` runs of the same
sequences and gaps (e.g. the default and `--elf-set saliency_upsample=1.5`) hold every pair's
errors in their results.json; this matches the pairs of one method in both and quotes, per
sequence and gap, the difference of the median errors with its seeded paired bootstrap interval
(:func:`elf_ros.eval.motion.summary.median_difference_interval`), the failed pairs and the median
inliers, then counts the differences whose interval excludes zero.

    python -m elf_ros.eval.motion.compare_cli A/results.json B/results.json \
        [--method elf-efficientnet_lite1] [--method-b NAME] [--refine lk]
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from elf_ros.eval.motion.runner import MAX_ERROR_DEG, MIN_INLIERS
from elf_ros.eval.motion.summary import median_difference_interval

# A pair without a pose counts as 180 degrees, as in the benchmark's medians.
NO_POSE_DEG = 180.0


@dataclass
class Cell:
    """One sequence and gap: A - B median differences with intervals, failures, inliers."""

    sequence: str
    k: int
    pairs: int
    failed: tuple[int, int]
    inliers: tuple[float, float]
    rotation: tuple[float, float, float]       # difference, low, high (degrees)
    translation: tuple[float, float, float]

    @staticmethod
    def verdict(diff: tuple[float, float, float]) -> str:
        """Return 'A better', 'B better' or 'noise', from where the interval lies."""
        _d, low, high = diff
        return 'A better' if high < 0 else 'B better' if low > 0 else 'noise'


def _error(value: float | None) -> float:
    return NO_POSE_DEG if value is None or not math.isfinite(value) else float(value)


def _failed(p: dict) -> bool:
    return (p['inliers'] < MIN_INLIERS or not _error(p['rotation_error']) <= MAX_ERROR_DEG
            or not _error(p['translation_error']) <= MAX_ERROR_DEG)


def pair_records(results: dict, method: str, refine: str) -> dict[tuple[str, int], dict]:
    """(sequence, k) -> {(i, j): pair record} of one method and refinement in a results.json."""
    out: dict[tuple[str, int], dict] = {}
    for block in results.get('pairs', []):
        if block['method'] == method and block.get('refine', 'none') == refine:
            out[(block['sequence'], block['k'])] = {(p['i'], p['j']): p for p in block['pairs']}
    return out


def compare(a: dict, b: dict, method: str, refine: str, method_b: str | None = None
            ) -> list[Cell]:
    """Cells for every (sequence, k) both runs hold, on the pairs both hold."""
    pa, pb = pair_records(a, method, refine), pair_records(b, method_b or method, refine)
    cells = []
    for key in [key for key in pa if key in pb]:
        common = sorted(set(pa[key]) & set(pb[key]))
        if not common:
            continue
        ra, rb = [pa[key][ij] for ij in common], [pb[key][ij] for ij in common]
        diffs = [median_difference_interval([_error(p[name]) for p in ra],
                                            [_error(p[name]) for p in rb])
                 for name in ('rotation_error', 'translation_error')]
        cells.append(Cell(key[0], key[1], len(common),
                          (sum(map(_failed, ra)), sum(map(_failed, rb))),
                          (float(np.median([p['inliers'] for p in ra])),
                           float(np.median([p['inliers'] for p in rb]))),
                          diffs[0], diffs[1]))
    return cells


def markdown(cells: list[Cell], label_a: str, label_b: str) -> str:
    """Return the comparison table and the count of differences outside the noise."""
    lines = [f'A = {label_a}', f'B = {label_b}', '',
             '| sequence | k | pairs | failed A / B | inliers A / B | rot A-B ° [90 %] | '
             't-dir A-B ° [90 %] |', '|---|---:|---:|---:|---:|---|---|']
    tally = {'A better': 0, 'B better': 0, 'noise': 0}
    for c in cells:
        parts = []
        for diff in (c.rotation, c.translation):
            verdict = Cell.verdict(diff)
            tally[verdict] += 1
            mark = '' if verdict == 'noise' else f' **{verdict}**'
            parts.append(f'{diff[0]:+.3f} [{diff[1]:+.3f}, {diff[2]:+.3f}]{mark}')
        lines.append(f'| {c.sequence} | {c.k} | {c.pairs} | {c.failed[0]} / {c.failed[1]} | '
                     f'{c.inliers[0]:.0f} / {c.inliers[1]:.0f} | {parts[0]} | {parts[1]} |')
    lines += ['', f"median differences outside the 90 % interval: A better {tally['A better']}, "
              f"B better {tally['B better']}; within noise {tally['noise']}"]
    return '\n'.join(lines)
