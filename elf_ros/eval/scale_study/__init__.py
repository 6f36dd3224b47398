"""
Why zoom beyond 2x defeats ELF: per-pyramid-level repeatability and correct matches.

For each pair of a sequence (e.g. Oxford boat, zoom + rotation) the image that shows the scene
larger is shrunk by factors f (a pyramid level); detections on that level are compared with
the other image's at its own scale, with the ground truth H composed with the shrink. A level
near the zoom between the two undoes it: if it matches well, a pyramid *can* answer scale and
the question is how to combine levels; if it does not, the limit is elsewhere (overlap,
viewpoint, rotation). Example (docs/evaluation.md, "Zoom beyond 2x"):

    python -m elf_ros.eval.scale_study --sequence ../shared/data/oxford_boat
        --methods elf-efficientnet_lite1,elf-efficientnet_lite1_rot --levels 1,0.71,0.5,0.35
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from elf_ros.eval.datasets import Pair
from elf_ros.eval.geometry import scale_matrix
from elf_ros.eval.methods import Method
from elf_ros.eval.metrics import evaluate_pair, PairScores


def zoom_and_rotation(h: np.ndarray, size1: tuple[int, int]) -> tuple[float, float]:
    """Local zoom (sqrt |det J|) and rotation (deg) of H at the centre of image 1."""
    cx, cy = (size1[0] - 1) / 2, (size1[1] - 1) / 2
    eps = 1.0
    pts = np.array([[cx, cy], [cx + eps, cy], [cx, cy + eps]], np.float64)
    hom = np.c_[pts, np.ones(3)] @ h.T
    p = hom[:, :2] / hom[:, 2:]
    jac = np.stack([(p[1] - p[0]) / eps, (p[2] - p[0]) / eps], axis=1)
    return math.sqrt(abs(np.linalg.det(jac))), math.degrees(math.atan2(jac[1, 0], jac[0, 0]))


def shrink(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Image resized by ``factor`` (area filter) and the pixel map (3x3) into it."""
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA) if factor != 1 else image
    sx, sy = nw / w, nh / h
    # Pixel centres: x' = (x + 0.5) * s - 0.5.
    m = np.array([[1, 0, 0.5 * sx - 0.5], [0, 1, 0.5 * sy - 0.5], [0, 0, 1]]) @ \
        scale_matrix(sx, sy)
    return small, m


def level_scores(method: Method, pair: Pair, levels: list[float]
                 ) -> tuple[float, float, list[PairScores]]:
    """
    (zoom, rotation in degrees, scores per level) of one pair.

    The image that shows the scene larger is shrunk by each level's factor and matched against
    the other at its own scale, with the ground truth H composed with the shrink.
    """
    zoom, rot = zoom_and_rotation(pair.homography, pair.size1)
    fixed = method.extract([pair.image2 if zoom < 1 else pair.image1])[0]
    scores = []
    for factor in levels:
        if zoom < 1:     # image 1 shows the scene larger: shrink it
            small, m = shrink(pair.image1, factor)
            f1, f2, h = method.extract([small])[0], fixed, pair.homography @ np.linalg.inv(m)
            size1, size2 = (small.shape[1], small.shape[0]), pair.size2
        else:
            small, m = shrink(pair.image2, factor)
            f1, f2, h = fixed, method.extract([small])[0], m @ pair.homography
            size1, size2 = pair.size1, (small.shape[1], small.shape[0])
        scores.append(evaluate_pair(f1, f2, h, size1, size2))
    return zoom, rot, scores
