"""Homography helpers shared by the datasets and the metrics (plain numpy, no ROS, no torch)."""
from __future__ import annotations

import numpy as np

Size = tuple[int, int]
"""(width, height) in pixels, OpenCV order."""


def warp_points(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """
    Map (N, 2) pixel points by a 3x3 homography, dividing by w.

    Oxford matrices are not normalised (H[2,2] may be anything, even negative), so the division
    by the third homogeneous coordinate is what makes H and -H, or 2H, the same mapping.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.float64)
    homog = np.hstack([pts, np.ones((pts.shape[0], 1))]) @ np.asarray(h, dtype=np.float64).T
    return homog[:, :2] / homog[:, 2:3]


def inside(points: np.ndarray, size: Size) -> np.ndarray:
    """Mask of points inside an image of `size`, with the paper's test 0 <= x < W, 0 <= y < H."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    width, height = size
    return (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)


def scale_matrix(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def resize_homography(h: np.ndarray, size1: Size, size2: Size, new_size: Size) -> np.ndarray:
    """
    Correct H (image 1 -> image 2) after both images are resized to `new_size`.

    Same correction as the paper's evaluation: H' = S2 H S1^-1 with S = diag(sx, sy, 1) and
    s = new / old per axis (pure scaling of pixel coordinates).
    """
    s1 = scale_matrix(new_size[0] / size1[0], new_size[1] / size1[1])
    s2 = scale_matrix(new_size[0] / size2[0], new_size[1] / size2[1])
    return s2 @ np.asarray(h, dtype=np.float64) @ np.linalg.inv(s1)


def about_centre(matrix: np.ndarray, size: Size) -> np.ndarray:
    """Conjugate a 3x3 transform so it acts about the image centre instead of the origin."""
    cx, cy = (size[0] - 1) / 2.0, (size[1] - 1) / 2.0
    to_centre = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    return np.linalg.inv(to_centre) @ matrix @ to_centre


def rotation_homography(angle_deg: float, size: Size) -> np.ndarray:
    """Rotation by `angle_deg` (counter-clockwise on screen) about the image centre."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return about_centre(rot, size)


def scale_homography(scale: float, size: Size) -> np.ndarray:
    """Zoom by `scale` about the image centre (scale > 1 enlarges the content)."""
    return about_centre(scale_matrix(scale, scale), size)


def corner_error(h_est: np.ndarray | None, h_true: np.ndarray, size: Size) -> float:
    """
    Mean distance between the image-1 corners mapped by the estimated and the true H.

    This is the usual homography-estimation error (SuperPoint style); inf when estimation failed.
    """
    if h_est is None or not np.all(np.isfinite(h_est)):
        return float('inf')
    width, height = size
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    with np.errstate(divide='ignore', invalid='ignore'):
        err = np.linalg.norm(warp_points(h_est, corners) - warp_points(h_true, corners), axis=1)
    value = float(np.mean(err))
    return value if np.isfinite(value) else float('inf')
