"""
Scale levels: detect on shrunken copies of each image and pool the keypoints by score.

Why: ELF's saliency and descriptors come from fixed-size filters, so a structure seen 2-3x
larger in one image is neither detected at the same place nor described alike. Measured on
Oxford boat (python -m elf_ros.eval.scale_study): shrinking the zoomed-in image to the other's
scale restores correct matches (pair 1-5, zoom 0.42: 14 -> 102 at level 0.5), so a pyramid can
answer zoom if its levels share one keypoint budget. Each level is the same pipeline at a
smaller network size (the detector resizes on the device); keypoints come back in source
pixels, their ``size`` grows with the level, and the strongest ``max_keypoints`` of all levels
are kept (saliency is normalised per level, so scores compare across levels).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def level_factors(levels: int, step: float) -> list[float]:
    """Shrink factors of the levels: 1, step, step^2, ... (``levels`` of them)."""
    return [step ** i for i in range(levels)]


def merge_levels(results: Sequence[Any], max_keypoints: int) -> Any:
    """
    Pool one image's per-level results: all keypoints sorted by score, the best ``max_keypoints``.

    The first level's saliency map and threshold are kept. ``None`` marks a level the image was
    too small for. Results are ``ElfResult`` objects (typed loosely: the detector imports this).
    """
    present = [r for r in results if r is not None]
    first = present[0]
    scores = np.concatenate([r.scores for r in present])
    order = np.argsort(-scores, kind='stable')
    if max_keypoints > 0:
        order = order[:max_keypoints]

    def pooled(get) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([get(r) for r in present])[order])

    upright = None
    if first.upright_descriptors is not None:
        upright = pooled(lambda r: r.upright_descriptors)
    return type(first)(pooled(lambda r: r.keypoints), scores[order],
                       pooled(lambda r: r.descriptors), first.saliency, first.threshold,
                       sizes=pooled(lambda r: r.sizes), angles=pooled(lambda r: r.angles),
                       upright_descriptors=upright)
