"""LK match refinement against a known sub-pixel motion (the independent reference)."""
import cv2
import numpy as np
import pytest

from elf_ros.core.refine import as_gray_u8, refine_matches, RefineConfig

SHIFT = np.array([2.3, -1.7], np.float32)   # true motion from image 1 to image 2, pixels


def _textured(seed: int = 0, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, size).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    img1 = _textured()
    warp = np.array([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]], np.float32)
    img2 = cv2.warpAffine(img1, warp, img1.shape[::-1], flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
    lo, hi = img1.min(), img1.max()
    scale = lambda x: np.clip((x - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)  # noqa: E731
    return scale(img1), scale(img2)


def _grid() -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(30, 131, 10), np.arange(25, 96, 10))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def test_refinement_recovers_the_true_subpixel_position():
    img1, img2 = _pair()
    p1 = _grid()
    rng = np.random.default_rng(1)
    guess = p1 + SHIFT + rng.uniform(-1.2, 1.2, p1.shape).astype(np.float32)
    out = refine_matches(img1, img2, p1, guess)
    before = np.linalg.norm(guess - (p1 + SHIFT), axis=1)
    after = np.linalg.norm(out.points2 - (p1 + SHIFT), axis=1)
    assert out.keep.mean() > 0.9
    assert np.median(before[out.keep]) > 0.5
    assert np.median(after[out.keep]) < 0.1
    assert np.percentile(after[out.keep], 90) < 0.25


def test_a_match_that_must_move_too_far_is_dropped_and_left_as_given():
    img1, img2 = _pair()
    p1 = _grid()[:5]
    guess = p1 + SHIFT
    guess[0] += (6.0, 0.0)          # a wrong match: the true position is 6 px away
    out = refine_matches(img1, img2, p1, guess, RefineConfig(max_shift=2.0))
    assert not out.keep[0]
    assert np.array_equal(out.points2[0], guess[0])
    assert out.keep[1:].all()


def test_points_leaving_the_image_are_dropped():
    img1, img2 = _pair()
    p1 = np.array([[80.0, 60.0], [159.0, 60.0]], np.float32)
    guess = np.array([[82.3, 58.3], [161.5, 58.3]], np.float32)   # second one is outside img2
    out = refine_matches(img1, img2, p1, guess)
    assert out.keep.tolist() == [True, False]


def test_empty_and_mismatched_inputs():
    img1, img2 = _pair()
    out = refine_matches(img1, img2, np.zeros((0, 2)), np.zeros((0, 2)))
    assert out.points2.shape == (0, 2) and out.keep.shape == (0,)
    with pytest.raises(ValueError, match='differ in length'):
        refine_matches(img1, img2, np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match='odd'):
        RefineConfig(window=10)
    with pytest.raises(ValueError, match='max_shift'):
        RefineConfig(max_shift=0)


def test_colour_and_16_bit_images_are_accepted():
    img1, img2 = _pair()
    rgb1 = np.repeat(img1[..., None], 3, axis=2)
    deep2 = img2.astype(np.uint16) << 8
    p1 = _grid()
    grey = refine_matches(img1, img2, p1, p1 + SHIFT)
    mixed = refine_matches(rgb1, deep2, p1, p1 + SHIFT)
    assert np.allclose(grey.points2, mixed.points2, atol=1e-4)
    assert as_gray_u8(rgb1).dtype == np.uint8
    with pytest.raises(ValueError, match='uint8 or uint16'):
        as_gray_u8(np.zeros((4, 4), np.float32))
