"""LK match refinement against a known sub-pixel motion (the independent reference)."""
import cv2
import numpy as np
import pytest

from elf_ros.core.matching import Matches
from elf_ros.core.refine import (
    affines_from_homography,
    as_gray_u8,
    refine_matches,
    refine_stage,
    RefineConfig,
)

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


# -- rotation and zoom: LK after warping frame 1's patch by a local affine ---------------------
def _similarity(angle_deg: float, scale: float, centre=(80.0, 60.0)) -> np.ndarray:
    """3x3 rotation + zoom about `centre`: the true motion of a rotated, zoomed pair."""
    a = np.radians(angle_deg)
    lin = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.asarray(centre)
    out = np.eye(3)
    out[:2, :2], out[:2, 2] = lin, c - lin @ c
    return out


def _warped_pair(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img1, _ = _pair()
    img2 = cv2.warpPerspective(img1, h, img1.shape[::-1], flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)
    return img1, img2


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def test_homography_affines_are_its_numerical_jacobians():
    h = np.array([[1.1, 0.2, 5.0], [-0.1, 0.9, 3.0], [4e-4, -2e-4, 1.0]])
    points = np.array([[10.0, 20.0], [150.0, 40.0], [70.0, 110.0]])
    step = 1e-4
    dx, dy = np.array([step, 0.0]), np.array([0.0, step])
    numeric = np.stack([(_apply(h, points + dx) - _apply(h, points - dx)) / (2 * step),
                        (_apply(h, points + dy) - _apply(h, points - dy)) / (2 * step)], axis=2)
    assert np.allclose(affines_from_homography(h, points), numeric, atol=1e-6)


@pytest.mark.parametrize('angle, scale', [(40.0, 1.3), (90.0, 0.7), (0.0, 2.0)])
def test_prewarped_lk_follows_rotation_and_zoom_that_plain_lk_cannot(angle, scale):
    h = _similarity(angle, scale)
    img1, img2 = _warped_pair(h)
    xs, ys = np.meshgrid(np.arange(55, 106, 10), np.arange(40, 81, 10))
    p1 = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    truth = _apply(h, p1)
    guess = truth + np.random.default_rng(3).uniform(-1.2, 1.2, truth.shape)
    plain = refine_matches(img1, img2, p1, guess)
    warped = refine_matches(img1, img2, p1, guess, affines=affines_from_homography(h, p1))
    error = np.linalg.norm(warped.points2 - truth, axis=1)
    assert plain.keep.mean() < 0.5
    assert warped.keep.mean() > 0.9
    assert np.median(error[warped.keep]) < 0.1


def test_identity_affines_agree_with_plain_lk():
    img1, img2 = _pair()
    p1 = _grid()
    guess = p1 + SHIFT + np.random.default_rng(4).uniform(-1, 1, p1.shape).astype(np.float32)
    plain = refine_matches(img1, img2, p1, guess)
    warped = refine_matches(img1, img2, p1, guess, affines=np.tile(np.eye(2), (len(p1), 1, 1)))
    both = plain.keep & warped.keep
    assert both.mean() > 0.9
    # The tiles are resampled (bilinear) and use one pyramid level fewer: close, not identical.
    assert np.abs(plain.points2[both] - warped.points2[both]).max() < 0.1
    assert np.median(np.linalg.norm(warped.points2[both] - (p1 + SHIFT)[both], axis=1)) < 0.1
    with pytest.raises(ValueError, match='affines must be'):
        refine_matches(img1, img2, p1, guess, affines=np.eye(2)[None])


# -- the matcher stage -------------------------------------------------------------------------
def test_refine_stage_returns_matched_positions_refined_or_as_given():
    img1, img2 = _pair()
    p1 = _grid()
    truth = p1 + SHIFT
    guess = truth + np.random.default_rng(5).uniform(-1, 1, p1.shape).astype(np.float32)
    guess[0] += (6.0, 0.0)                                # a wrong match
    order = np.random.default_rng(6).permutation(len(p1))
    keypoints2 = guess[order]                             # frame 2 lists them in another order
    rows2 = np.argsort(order)                             # where point i landed in keypoints2
    matches = Matches(np.stack([np.arange(len(p1)), rows2], axis=1), np.zeros(len(p1), np.float32))
    raw = refine_stage(p1, keypoints2, matches)
    assert not raw.refined and len(raw) == len(p1)
    assert np.array_equal(raw.points1, p1) and np.array_equal(raw.points2, guess)
    refined = refine_stage(p1, keypoints2, matches, img1, img2, RefineConfig())
    assert refined.refined and 0 not in refined.pairs[:, 0]
    assert len(refined) >= 0.9 * len(p1)
    assert np.array_equal(refined.points1, p1[refined.pairs[:, 0]])
    err = np.linalg.norm(refined.points2 - truth[refined.pairs[:, 0]], axis=1)
    assert np.median(err) < 0.1
    empty = refine_stage(p1, keypoints2, Matches.empty(), img1, img2, RefineConfig())
    assert len(empty) == 0 and empty.points2.shape == (0, 2)


def test_frames_of_different_sizes_are_refined_in_their_own_coordinates():
    img1, img2 = _pair()
    p1 = _grid()
    guess = p1 + SHIFT + np.random.default_rng(7).uniform(-1, 1, p1.shape).astype(np.float32)
    same = refine_matches(img1, img2, p1, guess)
    smaller2 = refine_matches(img1, img2[:100, :140], p1, guess)      # frame 2 cropped
    larger2 = refine_matches(img1[:100, :140], img2, p1, guess)       # frame 1 cropped
    inside2 = (guess[:, 0] < 135) & (guess[:, 1] < 95)
    assert not smaller2.keep[~inside2].any()
    both = same.keep & smaller2.keep
    assert both.sum() > 0.5 * len(p1)
    assert np.abs(same.points2[both] - smaller2.points2[both]).max() < 0.05
    assert larger2.keep.sum() > 0.4 * len(p1)
