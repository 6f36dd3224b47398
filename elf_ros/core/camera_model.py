"""
A calibrated camera for pixel -> normalised, undistorted coordinates (no ROS import).

Why: VINS-Mono/Fusion and any geometric consumer want points on the z = 1 plane after the lens
distortion is removed. The models are those of sensor_msgs/CameraInfo that VINS users have:
``plumb_bob`` / ``rational_polynomial`` (OpenCV radial-tangential, ``cv2.undistortPoints``) and
``equidistant`` (Kannala-Brandt fisheye, ``cv2.fisheye.undistortPoints``). An uncalibrated camera
(K all zeros) is refused: raw pixel coordinates are never passed off as normalised ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

RADTAN_MODELS = ('plumb_bob', 'rational_polynomial', '')
FISHEYE_MODELS = ('equidistant',)
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
# OpenCV 4 names the variant with stop criteria undistortPointsIter; OpenCV 5 merged it.
_undistort_iter = getattr(cv2, 'undistortPointsIter', cv2.undistortPoints)


class CameraModelError(ValueError):
    """The calibration cannot be used; the message says what is missing or unsupported."""


@dataclass(frozen=True)
class CameraModel:
    """Pinhole matrix K (3, 3), distortion coefficients (k,) and the CameraInfo model name."""

    matrix: np.ndarray
    distortion: np.ndarray
    model: str = 'plumb_bob'

    def __post_init__(self) -> None:
        k = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        d = np.asarray(self.distortion, dtype=np.float64).reshape(-1)
        if not (k[0, 0] > 0 and k[1, 1] > 0) or not np.isfinite(k).all():
            raise CameraModelError('camera matrix has no focal length (K is zero or not finite:'
                                   ' an uncalibrated camera)')
        if self.model not in RADTAN_MODELS + FISHEYE_MODELS:
            raise CameraModelError(f'distortion model {self.model!r} not supported; supported: '
                                   'plumb_bob, rational_polynomial, equidistant')
        if self.model in FISHEYE_MODELS and d.size < 4:
            raise CameraModelError(f'equidistant distortion needs 4 coefficients, got {d.size}')
        if self.model in RADTAN_MODELS and d.size not in (0, 4, 5, 8, 12, 14):
            raise CameraModelError(f'{self.model or "plumb_bob"} distortion needs 0, 4, 5, 8, '
                                   f'12 or 14 coefficients, got {d.size}')
        object.__setattr__(self, 'matrix', k)
        object.__setattr__(self, 'distortion', d)

    @classmethod
    def from_camera_info(cls, k: Sequence[float], d: Sequence[float],
                         distortion_model: str) -> 'CameraModel':
        """Build from CameraInfo fields (k: 9 row-major numbers, d, distortion_model)."""
        values = np.asarray(k, dtype=np.float64)
        if values.size != 9:
            raise CameraModelError(f'K needs 9 numbers, got {values.size}')
        return cls(values.reshape(3, 3), np.asarray(d, dtype=np.float64),
                   str(distortion_model).strip())

    @classmethod
    def pinhole(cls, fx: float, fy: float, cx: float, cy: float) -> 'CameraModel':
        return cls(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), np.zeros(0))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) float64 undistorted coordinates on the z = 1 plane."""
        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if len(pts) == 0:
            return np.zeros((0, 2), np.float64)
        if self.model in FISHEYE_MODELS:
            out = cv2.fisheye.undistortPoints(pts, self.matrix, self.distortion[:4])
        elif not self.distortion.any():
            k = self.matrix
            out = (pts - k[:2, 2]) / np.array([k[0, 0], k[1, 1]])
            out[..., 0] -= k[0, 1] / k[0, 0] * out[..., 1]   # skew, zero for real cameras
        else:
            # The default 5 fixed-point iterations leave 1e-4 errors at strong distortion.
            out = _undistort_iter(pts, self.matrix, self.distortion, R=None, P=None,
                                  criteria=UNDISTORT_CRITERIA)
        return out.reshape(-1, 2).astype(np.float64)

    def undistorted_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) pixels of the same camera without distortion (K applied)."""
        xy = self.normalise(pixels)
        k = self.matrix
        return np.column_stack((k[0, 0] * xy[:, 0] + k[0, 1] * xy[:, 1] + k[0, 2],
                                k[1, 1] * xy[:, 1] + k[1, 2]))
