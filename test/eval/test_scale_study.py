"""Scale study helpers: the local zoom/rotation of H and the shrink's pixel map."""
import numpy as np
import pytest

from elf_ros.eval.geometry import rotation_homography, scale_homography
from elf_ros.eval.scale_study import shrink, zoom_and_rotation


@pytest.mark.parametrize('zoom, angle', [(0.5, 0.0), (2.0, 30.0), (0.36, -45.0)])
def test_zoom_and_rotation_of_a_similarity(zoom, angle):
    size = (640, 480)
    h = scale_homography(zoom, size) @ rotation_homography(angle, size)
    got_zoom, got_angle = zoom_and_rotation(h, size)
    assert got_zoom == pytest.approx(zoom, rel=1e-6)
    # rotation_homography turns counter-clockwise on screen: -angle in x-right, y-down terms.
    assert got_angle == pytest.approx(-angle, abs=1e-6)


def test_shrink_maps_pixel_centres_where_resize_puts_them():
    img = np.zeros((40, 60), np.uint8)
    img[20:24, 30:34] = 255                     # a 4x4 block centred on (31.5, 21.5)
    small, m = shrink(img, 0.5)
    assert small.shape == (20, 30)
    centre = m @ np.array([31.5, 21.5, 1.0])
    ys, xs = np.nonzero(small == small.max())
    np.testing.assert_allclose(centre[:2], [xs.mean(), ys.mean()], atol=1e-6)
