"""
Cost of detector-config variants of one preset, timed interleaved, against SIFT.

Why interleaved: on a shared machine the load drifts; calling every variant once per round
(the core's median_ms) lets the drift hit all alike, so the ratios hold even when the
milliseconds do not. Example (docs/core.md, "Orientation and scale levels"):

    python -m elf_ros.bench.variants --preset efficientnet_lite1 --threads 1
        --variant rot8=orientation=centroid --variant rot4=orientation=centroid,rotations=4
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from elf_ros.core import ElfDetector, load_preset, median_ms, parse_assignments

Variant = tuple[str, dict[str, Any]]


def parse_variant(text: str) -> Variant:
    """'NAME=FIELD=VALUE,FIELD=VALUE' -> (NAME, typed changes); ValueError when malformed."""
    name, sep, rest = text.partition('=')
    if not sep or not name:
        raise ValueError(f'expected NAME=FIELD=VALUE[,...], got {text!r}')
    return name, parse_assignments([item for item in rest.split(',') if item])


def time_variants(preset: str, variants: list[Variant], rgb: np.ndarray, device: str = 'cpu',
                  repeats: int = 5) -> list[tuple[str, str, float]]:
    """
    (name, changes, median ms per frame) of the preset, each variant and OpenCV SIFT (500).

    ``rgb`` (H, W, 3) uint8 is the frame; every call of a round runs before the next round.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    named = [(preset, {}), *variants]
    dets = [ElfDetector(load_preset(preset, device=device, **changes)) for _, changes in named]
    sift = cv2.SIFT_create(nfeatures=500)
    fns = [lambda d=d: d.detect([rgb]) for d in dets]
    fns.append(lambda: sift.detectAndCompute(gray, None))
    times = median_ms(fns, repeats, warmup=1)
    labels = [(n, ', '.join(f'{k}={v}' for k, v in c.items()) or '-') for n, c in named]
    labels.append(('sift', 'OpenCV SIFT, 500 features'))
    return [(name, changes, ms) for (name, changes), ms in zip(labels, times, strict=True)]
