"""
Relative pose from matched keypoints (essential matrix, OpenCV USAC MAGSAC) and its errors.

Shared by the motion benchmark and the ROS matcher, so both estimate poses the same way.
Keypoints are source-image pixels with the camera's K and OpenCV distortion; the RANSAC
threshold is in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_POINTS = 5          # the five-point solver's minimum
RANSAC_THRESHOLD = 1.0  # pixels (MAGSAC's maximum residual)
RANSAC_CONFIDENCE = 0.999
RANSAC_ITERATIONS = 10_000


@dataclass
class RelativePose:
    """x2 = rotation @ x1 + translation for points in camera-1 coordinates; |translation| = 1."""

    rotation: np.ndarray
    translation: np.ndarray
    inliers: np.ndarray  # (K,) bool over the given matches


def normalise(points: np.ndarray, camera_matrix: np.ndarray,
              distortion: np.ndarray | None = None) -> np.ndarray:
    """Source pixels -> undistorted normalised image coordinates (K^-1 [u v 1], lens removed)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    if len(pts) == 0:
        return pts.reshape(0, 2)
    dist = None if distortion is None or not np.any(distortion) else np.asarray(distortion)
    return cv2.undistortPoints(pts, np.asarray(camera_matrix, np.float64), dist).reshape(-1, 2)


def estimate_relative_pose(points1: np.ndarray, points2: np.ndarray, camera_matrix: np.ndarray,
                           distortion: np.ndarray | None = None, seed: int = 0,
                           threshold: float = RANSAC_THRESHOLD) -> RelativePose | None:
    """
    Essential matrix (USAC MAGSAC, seeded) and the cheirality-checked pose; None if it fails.

    Points are source pixels; they are undistorted and normalised first, and the pixel
    threshold is divided by the mean focal length. (OpenCV 5.0's USAC essential-matrix path
    returns no model for pixel points with K on KITTI pairs that RANSAC and USAC on
    normalised points solve, so the normalised form is used.) Inliers are those of the
    essential matrix that also pass recoverPose's cheirality test.
    """
    if len(points1) < MIN_POINTS:
        return None
    p1 = normalise(points1, camera_matrix, distortion)
    p2 = normalise(points2, camera_matrix, distortion)
    focal = 0.5 * (camera_matrix[0][0] + camera_matrix[1][1])
    cv2.setRNGSeed(seed)
    essential, mask = cv2.findEssentialMat(p1, p2, np.eye(3), cv2.USAC_MAGSAC,
                                           RANSAC_CONFIDENCE, threshold / focal,
                                           maxIters=RANSAC_ITERATIONS)
    if essential is None or essential.shape[0] < 3 or mask is None:
        return None
    # Several solutions can be stacked; MAGSAC returns its best first.
    _, rotation, t, pose_mask = cv2.recoverPose(essential[:3], p1, p2, np.eye(3),
                                                mask=mask.copy())
    inliers = pose_mask.ravel() > 0
    t = t.ravel()
    return RelativePose(rotation, t / max(np.linalg.norm(t), 1e-12), inliers)


def rotation_error_deg(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Angle of estimate^T truth in degrees (clipped against rounding)."""
    cos = (np.trace(estimate.T @ truth) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def direction_error_deg(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    """Angle between two translation directions in degrees (180 when either is zero)."""
    n1, n2 = np.linalg.norm(t_est), np.linalg.norm(t_gt)
    if n1 == 0 or n2 == 0:
        return 180.0
    cos = float(np.dot(t_est, t_gt) / (n1 * n2))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
