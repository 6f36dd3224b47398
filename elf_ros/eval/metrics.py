"""
Repeatability, matching score and homography accuracy for one image pair.

Repeatability and matching score follow the ELF paper's evaluation code: keypoints are kept only
where they land inside the other image, greedy one-to-one matching on pixel distance (<= 5 px)
gives the geometric matches M, greedy one-to-one matching on descriptor distance gives M_d,
rep = |M| / min(N1, N2) and ms = |M ∩ M_d| / min(N1, N2). The mutual-nearest-neighbour (MNN)
matches (the core matcher, as the node's users match), their absolute number of correct ones and
the RANSAC homography error are the measures visual-odometry users feel: rep and MS divide by
min(N1, N2), so a detector that keeps few points is not penalised there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
import math

import cv2
import numpy as np

from elf_ros.core import match_descriptors, match_upright_or_oriented
from elf_ros.eval.features import descriptor_distances, Features
from elf_ros.eval.geometry import corner_error, inside, Size, warp_points

PIXEL_THRESHOLD = 5.0
RANSAC_THRESHOLD = 3.0
CORNER_THRESHOLDS = (1.0, 3.0, 5.0)
LOCALISATION_THRESHOLD = 1.0


def greedy_match(cost: np.ndarray, threshold: float = math.inf) -> np.ndarray:
    """
    One-to-one matching taking pairs in increasing cost order; (K, 2) index pairs (i, j).

    Pairs above `threshold` are never matched; ties go to the lower (i, j) in row-major order,
    so the result is deterministic.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n1, n2 = cost.shape if cost.ndim == 2 else (0, 0)
    if n1 == 0 or n2 == 0:
        return np.zeros((0, 2), dtype=np.int64)
    rows, cols = np.nonzero(cost <= threshold)
    order = np.argsort(cost[rows, cols], kind='stable')
    used_i = np.zeros(n1, dtype=bool)
    used_j = np.zeros(n2, dtype=bool)
    pairs: list[tuple[int, int]] = []
    limit = min(n1, n2)
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if used_i[i] or used_j[j]:
            continue
        used_i[i] = used_j[j] = True
        pairs.append((i, j))
        if len(pairs) == limit:
            break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def choose_descriptors(f1: Features, f2: Features) -> tuple[Features, Features]:
    """
    Where both sets carry upright and oriented descriptors, keep the kind the pair prefers.

    The core's ``match_upright_or_oriented`` decides (more MNN matches wins, no ground truth),
    as a user's matcher would; the result carries one kind only.
    """
    if f1.upright_descriptors is None or f2.upright_descriptors is None or \
            len(f1) == 0 or len(f2) == 0:
        return f1, f2
    _, oriented = match_upright_or_oriented((f1.upright_descriptors, f2.upright_descriptors),
                                            (f1.descriptors, f2.descriptors))

    def one(f: Features) -> Features:
        return Features(f.keypoints, f.descriptors if oriented else f.upright_descriptors,
                        f.scores)
    return one(f1), one(f2)


def mutual_nearest(f1: Features, f2: Features) -> np.ndarray:
    """MNN descriptor matches (i, j), (K, 2), by the core matcher (L2; Hamming for uint8)."""
    f1, f2 = choose_descriptors(f1, f2)
    if len(f1) == 0 or len(f2) == 0 or f1.descriptors.shape[1] == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return match_descriptors(f1.descriptors, f2.descriptors, mutual=True).pairs


def pixel_distances(f1: Features, f2: Features, h: np.ndarray) -> np.ndarray:
    """Distances in image 2 between H(keypoints of 1) and the keypoints of 2, (N1, N2)."""
    w1 = warp_points(h, f1.keypoints)
    return np.linalg.norm(w1[:, None, :] - f2.keypoints[None, :, :].astype(np.float64), axis=2)


def common_view(f1: Features, f2: Features, h: np.ndarray, size1: Size,
                size2: Size) -> tuple[Features, Features]:
    """Keep keypoints of 1 that H maps inside image 2, and of 2 that H^-1 maps inside image 1."""
    keep1 = inside(warp_points(h, f1.keypoints), size2)
    keep2 = inside(warp_points(np.linalg.inv(h), f2.keypoints), size1)
    return f1.subset(keep1), f2.subset(keep2)


@dataclass
class PairScores:
    """Every measure for one pair: fractions in [0, 1], homography_error in px (inf: failed)."""

    repeatability: float = 0.0
    matching_score: float = 0.0
    mnn_matching_score: float = 0.0
    mnn_precision: float = 0.0
    homography_error: float = math.inf
    detected1: int = 0
    detected2: int = 0
    common1: int = 0
    common2: int = 0
    geometric_matches: int = 0
    ms_matches: int = 0        # |M ∩ M_d|, the numerator of the matching score
    mnn_matches: int = 0       # MNN matches among the kept keypoints
    mnn_correct: int = 0       # ... of which within the pixel threshold under the true H
    # Localisation: how far the correct MNN matches land from the truth (px in image 2).
    mnn_within_1px: int = 0    # correct matches within LOCALISATION_THRESHOLD
    mnn_error_median: float = math.nan   # median error of the correct matches (nan: none)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def mnn_correspondences(f1: Features, f2: Features, h: np.ndarray,
                        pixel_threshold: float = PIXEL_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """MNN descriptor matches of two keypoint sets and whether each lands within the threshold."""
    matches, err = mnn_errors(f1, f2, h)
    return matches, err <= pixel_threshold


def mnn_errors(f1: Features, f2: Features, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MNN matches (K, 2) and each one's distance (K,) in image 2 from H(its image-1 point)."""
    matches = mutual_nearest(f1, f2)
    if len(matches) == 0:
        return matches, np.zeros(0)
    err = np.linalg.norm(warp_points(h, f1.keypoints[matches[:, 0]])
                         - f2.keypoints[matches[:, 1]], axis=1)
    return matches, err


def estimate_homography(f1: Features, f2: Features, matches: np.ndarray,
                        ransac_threshold: float = RANSAC_THRESHOLD) -> np.ndarray | None:
    """RANSAC homography from matched keypoints (seeded, so runs repeat); None if it fails."""
    if len(matches) < 4:
        return None
    cv2.setRNGSeed(0)
    h, _ = cv2.findHomography(f1.keypoints[matches[:, 0]], f2.keypoints[matches[:, 1]],
                              cv2.RANSAC, ransac_threshold, maxIters=2000, confidence=0.999)
    return h


def evaluate_pair(f1: Features, f2: Features, h: np.ndarray, size1: Size, size2: Size,
                  pixel_threshold: float = PIXEL_THRESHOLD,
                  ransac_threshold: float = RANSAC_THRESHOLD) -> PairScores:
    """All measures for detections `f1` in image 1 and `f2` in image 2 with H mapping 1 -> 2."""
    scores = PairScores(detected1=len(f1), detected2=len(f2))
    f1, f2 = choose_descriptors(f1, f2)
    c1, c2 = common_view(f1, f2, h, size1, size2)
    scores.common1, scores.common2 = len(c1), len(c2)
    denom = min(len(c1), len(c2))
    if denom == 0:
        return scores
    geometric = greedy_match(pixel_distances(c1, c2, h), pixel_threshold)
    scores.geometric_matches = len(geometric)
    scores.repeatability = len(geometric) / denom
    if c1.descriptors.shape[1] == 0:
        return scores
    by_descriptor = greedy_match(descriptor_distances(c1.descriptors, c2.descriptors))
    geo_set = set(map(tuple, geometric.tolist()))
    scores.ms_matches = sum(tuple(p) in geo_set for p in by_descriptor.tolist())
    scores.matching_score = scores.ms_matches / denom

    mnn, err = mnn_errors(c1, c2, h)
    correct = err <= pixel_threshold
    scores.mnn_matches, scores.mnn_correct = len(mnn), int(correct.sum())
    scores.mnn_within_1px = int((err[correct] <= LOCALISATION_THRESHOLD).sum())
    if scores.mnn_correct:
        # Rounded to 1e-6 px: equal homographies give equal records, whatever the scale of H.
        scores.mnn_error_median = round(float(np.median(err[correct])), 6)
    scores.mnn_matching_score = scores.mnn_correct / denom
    scores.mnn_precision = scores.mnn_correct / len(mnn) if len(mnn) else 0.0

    all_matches, _ = mnn_correspondences(f1, f2, h, pixel_threshold)
    h_est = estimate_homography(f1, f2, all_matches, ransac_threshold)
    scores.homography_error = corner_error(h_est, h, size1)
    return scores
