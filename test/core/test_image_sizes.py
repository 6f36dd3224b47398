"""Image sizes: aspect-preserving long-side resize, refusal of tiny images, keypoints inside."""
import numpy as np
import pytest

from elf_ros.core import ElfDetector, load_preset

from .conftest import small_config, textured

LOOSE = dict(border=2, nms_radius=2, threshold_scale=0.0)   # many keypoints on small images


@pytest.fixture(scope='module')
def long_side() -> ElfDetector:
    return ElfDetector(small_config(input_long_side=96, **LOOSE))


def test_long_side_keeps_the_aspect_ratio_and_equals_that_explicit_size(long_side):
    img = textured(74, 245, 3)                  # about 1226x370 scaled down: 96 x 29
    got = long_side.detect([img], return_saliency=True)[0]
    fixed = ElfDetector(small_config(input_width=96, input_height=29, **LOOSE))
    ref = fixed.detect([img])[0]
    np.testing.assert_array_equal(got.keypoints, ref.keypoints)
    np.testing.assert_array_equal(got.descriptors, ref.descriptors)
    assert got.saliency.shape == img.shape[:2] and len(got) > 10


def test_images_at_or_below_the_long_side_are_not_upscaled(long_side):
    native = ElfDetector(small_config(**LOOSE))
    for h, w in ((72, 96), (40, 60)):
        img = textured(h, w, h)
        a, b = long_side.detect([img])[0], native.detect([img])[0]
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_explicit_width_and_height_win_over_the_long_side():
    img = textured(60, 120, 1)
    both = ElfDetector(small_config(input_long_side=64, input_width=80, input_height=80))
    fixed = ElfDetector(small_config(input_width=80, input_height=80))
    np.testing.assert_array_equal(both.detect([img])[0].keypoints,
                                  fixed.detect([img])[0].keypoints)


@pytest.mark.parametrize('shape', [(1, 1), (8, 8), (5, 17), (15, 400)])
def test_too_small_images_are_refused_with_the_reason(shape):
    det = ElfDetector(small_config(input_width=64, input_height=48))     # would upscale them
    with pytest.raises(ValueError, match=rf'{shape[1]}x{shape[0]} is too small.*min_source_side'):
        det.detect([np.full(shape, 128, np.uint8)])


def test_a_source_too_thin_after_the_long_side_resize_is_refused_by_the_border():
    det = ElfDetector(small_config(input_long_side=96, border=10))
    with pytest.raises(ValueError, match='network input 96x5 is too small.*border 10'):
        det.detect([textured(20, 400, 0)])


@pytest.mark.parametrize('shape', [(16, 16), (16, 23), (120, 160), (370, 1226)])
@pytest.mark.parametrize('subpixel', [False, True])
def test_keypoints_never_leave_the_source_image(shape, subpixel):
    h, w = shape
    # Fixed 64x48 input: small sources are upscaled, wide ones squeezed; border 0 lets the
    # sub-pixel fit reach past the edge of the network input.
    det = ElfDetector(small_config(input_width=64, input_height=48, border=0, nms_radius=1,
                                  max_keypoints=0, threshold_scale=0.0, subpixel=subpixel))
    r = det.detect([textured(h, w, 2)])[0]
    assert len(r) > 20
    assert r.keypoints.min() >= 0
    assert r.keypoints[:, 0].max() <= w - 1 and r.keypoints[:, 1].max() <= h - 1


def test_presets_use_the_long_side_policy():
    c = load_preset('random')
    assert (c.input_long_side, c.input_width, c.input_height) == (640, 0, 0)
