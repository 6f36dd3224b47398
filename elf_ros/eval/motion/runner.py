"""
Relative-pose runs: extract features once per frame, match pairs (i, i+k), estimate the pose.

For each sequence (KITTI, TUM or generic folder, see elf_ros/eval/sequences.py), each method
and each frame gap k, frame i is matched with frame i+k (core matcher, mutual nearest
neighbours), the matched positions optionally go through the core's refinement stage
(``refine_stage``: LK on the frames, dropping what it cannot confirm), the essential matrix is
estimated with OpenCV USAC MAGSAC (seeded) in source pixels with the sequence's intrinsics, and
the recovered pose is compared with ground truth. Features are extracted once per frame and
shared by every refinement.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import time

import numpy as np

from elf_ros.core import (
    as_gray_u8,
    direction_error_deg,
    estimate_relative_pose,
    match_descriptors,
    MIN_POINTS,
    refine_stage,
    RefineConfig,
    rotation_error_deg,
)
from elf_ros.eval.features import Features
from elf_ros.eval.methods import Method
from elf_ros.eval.sequences import Sequence

GAPS = (1, 2, 5)
MIN_INLIERS = 15
MAX_ERROR_DEG = 10.0
CLASSICAL = ('sift', 'orb', 'akaze')
# The offline default's keypoints with SIFT descriptors: the detector control (tells the
# detector's share of a gap to SIFT from the descriptor's).
OFFLINE_DEFAULT = 'elf-efficientnet_lite1'
HYBRIDS = (OFFLINE_DEFAULT + '+sift',)
# Refinement of the matched positions: 'none' or 'lk' (the core's refine_stage, as elf_matcher's
# default). A pre-warp by the affine of the 8 nearest matches was measured and dropped (mixed on
# lite1, worse for SIFT: docs/motion.md).
REFINEMENTS = ('none', 'lk')
DEFAULT_REFINEMENTS = ('none', 'lk')
# The refinement the benchmark's target uses (elf_matcher's default, chosen by this benchmark).
DEFAULT_REFINE = 'lk'


@dataclass
class PairResult:
    """One pair (i, i+k): errors in degrees (nan when no pose), matches, inliers."""

    i: int
    j: int
    rotation_error: float
    translation_error: float
    matches: int
    inliers: int
    seconds: float  # matching + refinement + pose estimation
    rotation: np.ndarray | None = field(default=None, repr=False)  # estimated R (not saved)
    used: int = -1  # matches given to the pose after refinement (-1: as matched)

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
    refine: str = 'none'          # one of REFINEMENTS
    extract_seconds: float = 0.0  # per frame
    keypoints: float = 0.0        # mean per frame
    pairs: dict[int, list[PairResult]] = field(default_factory=dict)
    error: str = ''


def run_label(run: Run) -> str:
    """Name a run: the method, with the refinement in brackets when there is one."""
    return run.method if run.refine == 'none' else f'{run.method} [{run.refine}]'


def matched_positions(f1: Features, f2: Features, refine: str,
                      image1: np.ndarray | None,
                      image2: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """MNN-match two frames, refine as asked: (K, 2) positions in each and the match count."""
    if not (len(f1) and len(f2)):
        empty = np.zeros((0, 2), np.float32)
        return empty, empty, 0
    m = match_descriptors(f1.descriptors, f2.descriptors)
    config = RefineConfig() if refine == 'lk' else None
    matched = refine_stage(f1.keypoints, f2.keypoints, m, image1, image2, config)
    return matched.points1, matched.points2, len(m)


def evaluate_pair(seq: Sequence, f1: Features, f2: Features, i: int, j: int, seed: int,
                  refine: str = 'none', image1: np.ndarray | None = None,
                  image2: np.ndarray | None = None) -> PairResult:
    """Match, refine (with both frames' images), estimate and score one pair."""
    if refine not in REFINEMENTS:
        raise ValueError(f'refine must be one of {REFINEMENTS}, got {refine!r}')
    if refine != 'none' and (image1 is None or image2 is None):
        raise ValueError(f'refine={refine!r} needs both images')
    start = time.perf_counter()
    p1, p2, matches = matched_positions(f1, f2, refine, image1, image2)
    used = len(p1) if refine != 'none' else -1
    pose = None
    if len(p1) >= MIN_POINTS:
        pose = estimate_relative_pose(p1, p2, seq.camera_matrix, seq.distortion, seed=seed)
    seconds = time.perf_counter() - start
    if pose is None:
        return PairResult(i, j, float('nan'), float('nan'), matches, 0, seconds, used=used)
    rot_gt, t_gt = seq.relative_pose(i, j)
    return PairResult(i, j, rotation_error_deg(pose.rotation, rot_gt),
                      direction_error_deg(pose.translation, t_gt), matches,
                      int(pose.inliers.sum()), seconds, pose.rotation, used)


def run_method(seq: Sequence, method: Method, gaps: tuple[int, ...], seed: int,
               limit: int = 0, refinements: tuple[str, ...] = ('none',)) -> list[Run]:
    """
    Extract every frame once, then score every pair (i, i+k) once per refinement.

    Returns one Run per refinement, in the order given; they share the extraction time.
    """
    unknown = set(refinements) - set(REFINEMENTS)
    if unknown:
        raise ValueError(f'unknown refinements {sorted(unknown)}; choose from {REFINEMENTS}')
    count = min(len(seq), limit) if limit > 0 else len(seq)
    feats: list[Features] = []
    grey: list[np.ndarray | None] = []
    keep_images = any(r != 'none' for r in refinements)
    start = time.perf_counter()
    for index in range(count):
        image = seq.image(index)
        feats.extend(method.extract([image]))
        grey.append(as_gray_u8(image) if keep_images else None)
    extract_seconds = (time.perf_counter() - start) / count
    runs = []
    for refine in refinements:
        run = Run(seq.name, method.name, method.weights, refine, extract_seconds,
                  float(np.mean([len(f) for f in feats])))
        for k in gaps:
            run.pairs[k] = [evaluate_pair(seq, feats[i], feats[i + k], i, i + k, seed + i,
                                          refine, grey[i], grey[i + k])
                            for i in range(count - k)]
        runs.append(run)
    return runs


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
