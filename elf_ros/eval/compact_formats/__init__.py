"""
What compact descriptor payloads (Features.msg float16 / uint8) cost in matching quality.

    python -m elf_ros.eval.compact_formats --dataset ../shared/data/oxford_graf

No ROS needed. Every ELF method runs once per image; its descriptors are then round-tripped
through each payload format exactly as a Features subscriber decodes them, and the Oxford pairs
are scored by the paper's protocol (elf_ros.eval.metrics.evaluate_pair): matching score,
correct matches, MNN-MS.
"""
from __future__ import annotations

import numpy as np

from elf_ros.core import descriptor_codec as codec
from elf_ros.eval import datasets as ds
from elf_ros.eval.features import Features
from elf_ros.eval.metrics import evaluate_pair

BYTES_PER_VALUE = {'float32': 4, 'float16': 2, 'uint8': 1}


def score_formats(dataset: ds.Dataset, method, limit: int = 0) -> dict[str, dict[str, float]]:
    """Mean MS / MNN-MS / correct matches per format over the dataset's pairs."""
    sums: dict[str, dict[str, list[float]]] = {f: {'ms': [], 'mnn_ms': [], 'correct': []}
                                               for f in codec.FORMATS}
    dims = []
    for n, pair in enumerate(dataset):
        if limit and n >= limit:
            break
        f1, f2 = method.extract([pair.image1, pair.image2])
        dims.append(f1.descriptors.shape[1])
        for fmt in codec.FORMATS:
            g1 = Features(f1.keypoints, codec.round_trip(f1.descriptors, fmt), f1.scores)
            g2 = Features(f2.keypoints, codec.round_trip(f2.descriptors, fmt), f2.scores)
            s = evaluate_pair(g1, g2, pair.homography, pair.size1, pair.size2)
            sums[fmt]['ms'].append(100 * s.matching_score)
            sums[fmt]['mnn_ms'].append(100 * s.mnn_matching_score)
            sums[fmt]['correct'].append(s.mnn_correct)
    dim = int(np.max(dims)) if dims else 0
    return {fmt: {**{k: float(np.mean(v)) for k, v in vals.items()},
                  'descriptor_bytes_per_keypoint': dim * BYTES_PER_VALUE[fmt]}
            for fmt, vals in sums.items()}
