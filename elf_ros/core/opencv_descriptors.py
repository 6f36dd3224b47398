"""
OpenCV descriptors (SIFT, ORB) computed at ELF keypoints, as the paper does to boost them.

For pipelines that already match SIFT or ORB descriptors: ELF decides *where*, OpenCV *what*.
OpenCV may drop keypoints it cannot describe (ORB near the border), so the indices of the kept
ELF keypoints are returned with the descriptors.
"""
from __future__ import annotations

import cv2
import numpy as np

OPENCV_DESCRIPTORS = ('sift', 'orb')


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def opencv_descriptors(image: np.ndarray, keypoints: np.ndarray, kind: str = 'sift',
                       size: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """
    Describe ``keypoints`` (N, 2) [x, y] of a uint8 image with OpenCV SIFT or ORB.

    ``size`` is the keypoint diameter in pixels (ELF keypoints carry no scale or angle, so the
    descriptors are upright). Returns (indices into ``keypoints`` that OpenCV kept,
    descriptors): float32 (M, 128) for SIFT, uint8 (M, 32) for ORB (Hamming distance).
    """
    if kind not in OPENCV_DESCRIPTORS:
        raise ValueError(f'kind: allowed {", ".join(OPENCV_DESCRIPTORS)}; got {kind!r}')
    extractor = cv2.SIFT_create() if kind == 'sift' else cv2.ORB_create()
    cv_kps = [cv2.KeyPoint(float(x), float(y), size, 0, 0, 0, i)
              for i, (x, y) in enumerate(np.asarray(keypoints, dtype=np.float32))]
    cv_kps, desc = extractor.compute(_gray(image), cv_kps)
    width = 128 if kind == 'sift' else 32
    if desc is None:
        desc = np.zeros((0, width), np.float32 if kind == 'sift' else np.uint8)
    return np.array([k.class_id for k in cv_kps], dtype=np.int64), desc
