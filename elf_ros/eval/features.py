"""What a method hands to the metrics: keypoints in the evaluated image's frame and descriptors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Features:
    """
    Detections of one image; row i of `descriptors` describes `keypoints[i]`.

    Float descriptors are compared with the L2 distance, uint8 descriptors (ORB, BRISK, AKAZE:
    packed bits) with the Hamming distance, as the paper's evaluation does.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    scores: np.ndarray | None = None
    # Detectors with an orientation also give upright descriptors; the metrics let each pair
    # pick one kind, as the core's match_upright_or_oriented does for users.
    upright_descriptors: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 2)
        if self.descriptors is None or len(self.descriptors) == 0:
            self.descriptors = np.zeros((len(self.keypoints), 0), dtype=np.float32)
        if len(self.descriptors) != len(self.keypoints):
            raise ValueError(f'{len(self.keypoints)} keypoints but {len(self.descriptors)} '
                             'descriptors')

    @classmethod
    def empty(cls) -> Features:
        """Return a failed detection, which the metrics score 0."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 0), np.float32))

    def __len__(self) -> int:
        return len(self.keypoints)

    def subset(self, mask_or_index: np.ndarray) -> Features:
        scores = None if self.scores is None else self.scores[mask_or_index]
        upright = None if self.upright_descriptors is None else \
            self.upright_descriptors[mask_or_index]
        return Features(self.keypoints[mask_or_index], self.descriptors[mask_or_index], scores,
                        upright)


def descriptor_distances(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """All-pairs descriptor distances: Hamming for packed binary (uint8), L2 otherwise."""
    if d1.dtype == np.uint8 and d2.dtype == np.uint8:
        b1 = np.unpackbits(d1, axis=1).astype(np.float32)
        b2 = np.unpackbits(d2, axis=1).astype(np.float32)
        return b1 @ (1.0 - b2).T + (1.0 - b1) @ b2.T
    a = np.asarray(d1, dtype=np.float64)
    b = np.asarray(d2, dtype=np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))
