"""detect_each: one image the detector refuses costs that image, not its batch."""
import numpy as np

from elf_ros.core import ElfDetector, load_preset
from elf_ros.core.detector import detect_each


def test_a_refused_image_costs_only_itself():
    det = ElfDetector(load_preset('random', device='cpu', input_long_side=0, border=4,
                                  max_keypoints=20))
    rng = np.random.default_rng(0)
    good = [rng.integers(0, 255, (64, 80), dtype=np.uint8) for _ in range(2)]
    tiny = np.zeros((4, 4), np.uint8)                    # below min_source_side
    results = detect_each(det, [good[0], tiny, good[1]])
    assert isinstance(results[1], ValueError) and 'image 0' in str(results[1])
    for got, image in zip((results[0], results[2]), good, strict=True):
        (alone,) = det.detect([image])
        np.testing.assert_array_equal(got.keypoints, alone.keypoints)
        np.testing.assert_array_equal(got.descriptors, alone.descriptors)
