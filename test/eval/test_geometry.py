"""Homography helpers on hand-computed cases, including Oxford's un-normalised matrices."""
import numpy as np
import pytest

from elf_ros.eval.geometry import (
    corner_error,
    inside,
    resize_homography,
    rotation_homography,
    scale_homography,
    warp_points,
)


def test_warp_divides_by_w_including_negative_h22():
    h = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    pts = np.array([[1.0, 1.0], [0.0, 5.0]])
    np.testing.assert_allclose(warp_points(h, pts), [[3.0, 2.0], [1.0, 10.0]])
    # Negated and rescaled matrices (H[2,2] = -1, -0.5) are the same mapping.
    np.testing.assert_allclose(warp_points(-h, pts), [[3.0, 2.0], [1.0, 10.0]])
    np.testing.assert_allclose(warp_points(-0.5 * h, pts), [[3.0, 2.0], [1.0, 10.0]])


def test_warp_projective_by_hand():
    # w = 0.001 x + 1: (100, 50) -> (100, 50) / 1.1
    h = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.001, 0.0, 1.0]])
    np.testing.assert_allclose(warp_points(h, [[100.0, 50.0]]), [[100 / 1.1, 50 / 1.1]])
    assert warp_points(h, np.zeros((0, 2))).shape == (0, 2)


def test_inside_uses_half_open_interval():
    pts = np.array([[0, 0], [639.9, 479.9], [640, 10], [10, 480], [-0.1, 5]])
    assert inside(pts, (640, 480)).tolist() == [True, True, False, False, False]


def test_resize_correction_by_hand():
    # Image 1 is 800x640, image 2 is 850x680, both resized to 640x480; H is a shift by (10, 20).
    h = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 20.0], [0.0, 0.0, 1.0]])
    h_small = resize_homography(h, (800, 640), (850, 680), (640, 480))
    # (400, 320) in image 1 is (320, 240) resized; it maps to (410, 340) in image 2,
    # which is (410 * 640 / 850, 340 * 480 / 680) resized.
    np.testing.assert_allclose(warp_points(h_small, [[320.0, 240.0]]),
                               [[410 * 640 / 850, 340 * 480 / 680]])


def test_resize_correction_keeps_unnormalised_scale_irrelevant():
    h = np.array([[0.9, 0.1, 5.0], [-0.2, 1.1, 7.0], [1e-4, 2e-5, 1.0]])
    a = resize_homography(h, (800, 640), (800, 640), (640, 480))
    b = resize_homography(-3.0 * h, (800, 640), (800, 640), (640, 480))
    pts = np.array([[10.0, 20.0], [600.0, 400.0]])
    np.testing.assert_allclose(warp_points(a, pts), warp_points(b, pts))


def test_rotation_and_scale_about_centre():
    size = (640, 480)
    centre = [[319.5, 239.5]]
    for h in (rotation_homography(90, size), scale_homography(2.0, size)):
        np.testing.assert_allclose(warp_points(h, centre), centre, atol=1e-9)
    # 90 degrees: a point 100 px right of the centre ends 100 px above it (y down).
    np.testing.assert_allclose(warp_points(rotation_homography(90, size), [[419.5, 239.5]]),
                               [[319.5, 139.5]], atol=1e-9)
    np.testing.assert_allclose(warp_points(scale_homography(2.0, size), [[419.5, 239.5]]),
                               [[519.5, 239.5]])


def test_corner_error():
    size = (640, 480)
    shifted = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])
    assert corner_error(np.eye(3), np.eye(3), size) == 0.0
    assert corner_error(shifted, np.eye(3), size) == pytest.approx(5.0)
    assert corner_error(None, np.eye(3), size) == float('inf')
