"""
Match refinement on homography pairs: `python -m elf_ros.eval.refinement` (no ROS needed).

Why: the motion benchmark shows what refinement does on small-baseline sequences; this tool
shows what it does where rotation and zoom separate the images (Oxford/HPatches), and whether
pre-warping each patch by a local affine lets LK follow them. Per pair and method, the MNN
matches of all keypoints (the core matcher, as the scoreboard's homography estimate uses them)
are refined by each variant:

- ``none``: positions as matched;
- ``lk``: translation-only LK from the matched position (``refine_matches``);
- ``lk-homography``: LK after pre-warping by the Jacobian of a homography estimated from the
  raw matches (RANSAC, 3 px, seeded): the estimate, never the ground truth.

(A pre-warp by the least-squares affine of the 8 nearest matches was measured too and dropped:
no better than plain LK here, worse for SIFT on the motion sequences; docs/motion.md.)

Reported per kind of change (groups.group_of): matches kept, correct ones (within 5 px of the
true H), the localisation of the correct ones (median error, share within 1 px) and the
homography accuracy (corner error of H re-estimated from the refined matches within 1 / 3 px).
"""
from __future__ import annotations

from dataclasses import dataclass
import time

import cv2
import numpy as np

from elf_ros.core import (
    affines_from_homography,
    match_descriptors,
    refine_matches,
    RefineConfig,
)
from elf_ros.eval import datasets as ds
from elf_ros.eval.geometry import corner_error, warp_points
from elf_ros.eval.metrics import PIXEL_THRESHOLD, RANSAC_THRESHOLD

VARIANTS = ('none', 'lk', 'lk-homography')
H_THRESHOLDS = (1.0, 3.0)


@dataclass
class VariantScores:
    """One variant on one pair: counts, per-match errors of the correct ones, corner error."""

    matches: int
    kept: int
    correct_errors: np.ndarray   # (C,) px, errors of kept matches within PIXEL_THRESHOLD
    corner_error: float
    seconds: float


def ransac_homography(points1: np.ndarray, points2: np.ndarray) -> np.ndarray | None:
    """Estimate H as the scoreboard does (RANSAC 3 px, seeded) from matched positions."""
    if len(points1) < 4:
        return None
    cv2.setRNGSeed(0)
    h, _ = cv2.findHomography(points1, points2, cv2.RANSAC, RANSAC_THRESHOLD, maxIters=2000,
                              confidence=0.999)
    return h


def refine_variant(variant: str, image1: np.ndarray, image2: np.ndarray, p1: np.ndarray,
                   p2: np.ndarray, config: RefineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Refined frame-2 positions (N, 2) and kept mask (N,) of one variant."""
    if variant == 'none':
        return p2, np.ones(len(p2), bool)
    affines = None
    if variant == 'lk-homography':
        h = ransac_homography(p1, p2)
        affines = None if h is None else affines_from_homography(h, p1)
    elif variant != 'lk':
        raise ValueError(f'unknown variant {variant!r}; one of {VARIANTS}')
    out = refine_matches(image1, image2, p1, p2, config, affines)
    return out.points2, out.keep


def score_pair(pair: ds.Pair, f1, f2, variants: tuple[str, ...],
               config: RefineConfig) -> dict[str, VariantScores]:
    """Every variant on one pair's MNN matches."""
    matches = (match_descriptors(f1.descriptors, f2.descriptors)
               if len(f1) and len(f2) and f1.descriptors.shape[1] else None)
    pairs = matches.pairs if matches is not None else np.zeros((0, 2), np.int64)
    p1 = f1.keypoints[pairs[:, 0]] if len(pairs) else np.zeros((0, 2), np.float32)
    p2 = f2.keypoints[pairs[:, 1]] if len(pairs) else np.zeros((0, 2), np.float32)
    out = {}
    for variant in variants:
        start = time.perf_counter()
        refined, keep = (refine_variant(variant, pair.image1, pair.image2, p1, p2, config)
                         if len(p1) else (p2, np.zeros(0, bool)))
        seconds = time.perf_counter() - start
        q1, q2 = p1[keep], refined[keep]
        errors = (np.linalg.norm(warp_points(pair.homography, q1) - q2, axis=1)
                  if len(q1) else np.zeros(0))
        h_est = ransac_homography(q1, q2)
        out[variant] = VariantScores(len(p1), int(keep.sum()),
                                     errors[errors <= PIXEL_THRESHOLD],
                                     corner_error(h_est, pair.homography, pair.size1), seconds)
    return out


def summarise(scores: list[VariantScores]) -> dict[str, float]:
    """Means per pair, and the localisation of all correct matches pooled over the pairs."""
    errors = np.concatenate([s.correct_errors for s in scores]) if scores else np.zeros(0)
    corners = np.array([s.corner_error for s in scores])
    row = {
        'pairs': len(scores),
        'matches': float(np.mean([s.matches for s in scores])),
        'kept_share': (float(np.sum([s.kept for s in scores]))
                       / max(1, int(np.sum([s.matches for s in scores])))),
        'correct': float(np.mean([len(s.correct_errors) for s in scores])),
        'median_px': float(np.median(errors)) if len(errors) else float('nan'),
        'within_1px': float(np.mean(errors <= 1.0)) if len(errors) else float('nan'),
        'ms': 1e3 * float(np.mean([s.seconds for s in scores])),
    }
    for t in H_THRESHOLDS:
        row[f'h_acc_{t:g}px'] = float(np.mean(corners <= t))
    return row


COLUMNS = (('pairs', 'pairs', '{:d}'), ('matches', 'MNN matches', '{:.0f}'),
           ('kept_share', 'kept', '{:.2f}'), ('correct', 'correct/pair', '{:.1f}'),
           ('median_px', 'median px (correct)', '{:.2f}'), ('within_1px', 'within 1 px', '{:.2f}'),
           ('h_acc_1px', 'H acc 1 px', '{:.2f}'), ('h_acc_3px', 'H acc 3 px', '{:.2f}'),
           ('ms', 'refine ms', '{:.1f}'))


def markdown(rows: list[dict], command: str) -> str:
    head = ['group', 'method', 'refinement'] + [c[1] for c in COLUMNS]
    out = ['# Match refinement on homography pairs', '', f'Command: `{command}`', '',
           '| ' + ' | '.join(head) + ' |', '|---|---|---|' + '---:|' * len(COLUMNS)]
    for r in rows:
        cells = [r['group'], r['method'], r['variant']]
        cells += [fmt.format(int(r[k]) if fmt == '{:d}' else r[k]) for k, _, fmt in COLUMNS]
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out) + '\n'
