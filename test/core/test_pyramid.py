"""Scale levels: each level is the detector at a smaller network size; levels pool by score."""
import numpy as np
import pytest

from elf_ros.core import ElfDetector, ElfResult
from elf_ros.core.pyramid import level_factors, merge_levels

from .conftest import small_config, textured


def test_level_factors_are_powers_of_the_step():
    assert level_factors(3, 0.5) == [1.0, 0.5, 0.25]
    assert level_factors(1, 0.7) == [1.0]


def result(scores, offset):
    n = len(scores)
    xy = np.arange(2 * n, dtype=np.float32).reshape(n, 2) + offset
    desc = np.full((n, 3), offset, np.float32)
    return ElfResult(xy, np.asarray(scores, np.float32), desc, None, 0.2,
                     sizes=np.full(n, 10 + offset, np.float32))


def test_merge_keeps_the_strongest_of_all_levels_in_score_order():
    fine, coarse = result([0.9, 0.5, 0.1], 0), result([0.7, 0.3], 100)
    merged = merge_levels([fine, None, coarse], max_keypoints=4)
    np.testing.assert_array_equal(merged.scores, np.float32([0.9, 0.7, 0.5, 0.3]))
    np.testing.assert_array_equal(merged.keypoints[:, 0], [0, 100, 2, 102])
    np.testing.assert_array_equal(merged.descriptors[:, 0], [0, 100, 0, 100])
    np.testing.assert_array_equal(merged.sizes, [10, 110, 10, 110])
    assert (merged.angles == -1).all() and merged.threshold == 0.2


def test_each_level_equals_the_detector_at_that_network_size():
    """Level 2 of a 96x128 image = a detector resizing it to 48x64 (its fixed-size path)."""
    img = textured(96, 128, seed=2)
    both = ElfDetector(small_config(scale_levels=2, scale_step=0.5, max_keypoints=0))
    fine = ElfDetector(small_config(max_keypoints=0)).detect([img])[0]
    coarse = ElfDetector(small_config(input_width=64, input_height=48,
                                      max_keypoints=0)).detect([img])[0]
    got = both.detect([img])[0]
    assert len(got) == len(fine) + len(coarse) and len(coarse) > 0
    expect = np.concatenate([fine.keypoints, coarse.keypoints])
    order = np.argsort(-np.concatenate([fine.scores, coarse.scores]), kind='stable')
    np.testing.assert_allclose(got.keypoints, expect[order], atol=1e-5)
    np.testing.assert_allclose(got.descriptors, np.concatenate(
        [fine.descriptors, coarse.descriptors])[order], atol=1e-5)
    # size: 31 network pixels of the level, in source pixels (scale 1 and 2 here).
    assert set(np.unique(got.sizes)) == {31.0, 62.0}
    assert (got.angles == -1).all()


def test_a_level_too_small_for_the_network_is_skipped():
    det = ElfDetector(small_config(scale_levels=3, scale_step=0.25))
    img = textured(64, 64, seed=1)          # level 3 would be 4x4 pixels
    assert len(det.detect([img])[0]) > 0


@pytest.mark.parametrize('changes', [dict(scale_levels=0), dict(scale_step=1.0)])
def test_bad_scale_fields_are_refused(changes):
    from elf_ros.core import ConfigError
    with pytest.raises(ConfigError, match=next(iter(changes))):
        small_config(**changes).validate()
