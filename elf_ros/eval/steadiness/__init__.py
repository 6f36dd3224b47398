"""
Keypoint steadiness: keypoints found again when the photograph moves by a pixel or a fraction.

The same photograph moved by whole or fractional pixels; the moved view's keypoints are moved
back and paired with the unmoved view's. Why: a detector whose maxima move when the image is
merely resampled (what any viewpoint change, zoom or lens does first) cannot localise, whatever
its descriptors; this measures that alone, without matching or geometry (docs/core.md,
"Blurring the network input").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
from scipy.spatial import cKDTree

# Whole-pixel moves change a stride-2 network's sampling phase; fractional ones resample.
SHIFTS: tuple[tuple[float, float], ...] = ((1.0, 0.0), (1.0, 1.0), (0.5, 0.0), (0.5, 0.5),
                                           (0.25, 0.25))
RADIUS = 2.0      # a keypoint is found again within this many px
MARGIN = 4        # px of the photograph kept around the view, so a move brings in real content

Detect = Callable[[np.ndarray], np.ndarray]     # (H, W[, 3]) uint8 -> (N, 2) float [x, y]


def moved_pair(image: np.ndarray, shift: tuple[float, float], size: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """
    Two uint8 views of ``size`` (w, h) of the photograph: as it is, and moved by ``shift``.

    The moved view shows at (x, y) what the first shows at (x + dx, y + dy): its content moved
    by (-dx, -dy). Whole pixels are exact crops; fractions are bilinear (a camera's resampling).
    """
    w, h = size
    big = cv2.resize(image, (w + 2 * MARGIN, h + 2 * MARGIN),
                     interpolation=cv2.INTER_AREA).astype(np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

    def view(dx: float, dy: float) -> np.ndarray:
        m = np.float32([[1, 0, MARGIN + dx], [0, 1, MARGIN + dy]])
        out = cv2.warpAffine(big, m, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT_101)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)

    return view(0.0, 0.0), view(*shift)


@dataclass
class Steadiness:
    """Keypoints of the unmoved views, the share found again, and the median distance (px)."""

    keypoints: int
    found: float
    offset_median: float


def steadiness(detect: Detect, images: Sequence[np.ndarray], shift: tuple[float, float],
               size: tuple[int, int] = (640, 480)) -> Steadiness:
    """Pool over ``images``: each unmoved view's keypoints against its moved view's, moved back."""
    offsets, total = [], 0
    for image in images:
        base, moved = moved_pair(image, shift, size)
        a = np.asarray(detect(base), np.float64).reshape(-1, 2)
        b = np.asarray(detect(moved), np.float64).reshape(-1, 2) + np.asarray(shift)
        total += len(a)
        if len(a) and len(b):
            dist, _ = cKDTree(b).query(a, distance_upper_bound=RADIUS)
            offsets.append(dist[np.isfinite(dist)])
    found = np.concatenate(offsets) if offsets else np.zeros(0)
    return Steadiness(total, len(found) / total if total else 0.0,
                      float(np.median(found)) if len(found) else float('nan'))


def markdown(rows: list[dict], command: str) -> str:
    """One table: a row per method and move, the share found again and the median offset."""
    lines = ['# Keypoint steadiness under small moves of the image', '',
             f'Command: `{command}`', '',
             f'Each photograph as it is and moved by (dx, dy) px (whole: a crop; fractional: '
             f'bilinear); keypoints of the moved view moved back and paired within {RADIUS} px.',
             '', '| method | move (dx, dy) px | keypoints | found again % | median offset px |',
             '|---|---|---:|---:|---:|']
    lines += [f"| {r['method']} | ({r['dx']:g}, {r['dy']:g}) | {r['keypoints']} | "
              f"{100 * r['found']:.0f} | {r['offset_median']:.2f} |" for r in rows]
    return '\n'.join(lines) + '\n'
