"""
Keypoints in normalised, undistorted camera coordinates from a sensor_msgs/CameraInfo.

Matching and geometry (essential matrix, PnP) want x = (u - cx) / fx after removing lens
distortion; doing it once in the node saves every consumer a camera_info subscription.
"""
from __future__ import annotations

import cv2
import numpy as np

RADTAN_MODELS = ('plumb_bob', 'rational_polynomial', '')


class CameraInfoError(ValueError):
    """The CameraInfo cannot be used (no intrinsics, unknown distortion model)."""


def normalised_keypoints(xy: np.ndarray, info) -> np.ndarray:
    """(N, 2) pixel keypoints -> (N, 2) undistorted normalised coordinates (z = 1 plane)."""
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise CameraInfoError('camera_info has no intrinsics (K is zero: uncalibrated camera)')
    d = np.asarray(info.d, dtype=np.float64)
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 1, 2)
    if len(points) == 0:
        return np.zeros((0, 2), np.float32)
    if info.distortion_model in RADTAN_MODELS:
        out = cv2.undistortPoints(points, k, d if d.size else None)
    elif info.distortion_model == 'equidistant':
        out = cv2.fisheye.undistortPoints(points, k, d.reshape(-1)[:4])
    else:
        raise CameraInfoError(
            f'distortion model {info.distortion_model!r} not supported; supported: plumb_bob, '
            'rational_polynomial, equidistant')
    return out.reshape(-1, 2).astype(np.float32)
