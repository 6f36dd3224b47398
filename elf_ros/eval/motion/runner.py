"""
Relative-pose runs: extract features once per frame, match pairs (i, i+k), estimate the pose.

For each sequence (KITTI, TUM or generic folder, see elf_ros/eval/sequences.py), each method
and each frame gap k, frame i is matched with frame i+k (core matcher, mutual nearest
neighbours), the essential matrix is estimated with OpenCV USAC MAGSAC (seeded) in source
pixels with the sequence's intrinsics, and the recovered pose is compared with ground truth.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import time

import numpy as np

from elf_ros.core import (
    direction_error_deg,
    estimate_relative_pose,
    match_descriptors,
    rotation_error_deg,
)
from elf_ros.eval.features import Features
from elf_ros.eval.methods import Method
from elf_ros.eval.sequences import Sequence

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
