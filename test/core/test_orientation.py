"""Orientation: intensity-centroid angles, rotated copies, blending, and the oriented detector."""
import cv2
import numpy as np
import pytest
import torch

from elf_ros.core import (
    ConfigError,
    ElfDetector,
    match_upright_or_oriented,
    NOT_ESTIMATED_ANGLE,
    NOT_ESTIMATED_SIZE,
)
from elf_ros.core.matching import match_descriptors
from elf_ros.core.orientation import (
    blend_copies,
    centroid_angles,
    copy_geometry,
    map_points,
    oriented_descriptors,
    rotated_copy,
    torch_describer,
)
from elf_ros.core.postprocess import sample_descriptor_maps

from .conftest import small_config, textured


def angle_gap(a, b):
    """Smallest absolute difference of angles in degrees."""
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize('theta', [0.0, 30.0, 90.0, 135.0, 200.0, 315.0])
def test_centroid_of_a_ramp_points_up_the_ramp(theta):
    """On I = x cos(t) + y sin(t) the disc's centroid lies exactly in direction t."""
    h, w = 64, 64
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(theta)
    img = 100 + x * np.cos(t) + y * np.sin(t)
    xy = torch.tensor([[[31.0, 32.0], [30.0, 28.0]]])
    got = centroid_angles(torch.from_numpy(img)[None], xy, radius=15)
    assert angle_gap(got.numpy(), theta).max() < 1e-3


def test_centroid_matches_a_per_pixel_numpy_reference():
    """Integer keypoints: the moments summed pixel by pixel in numpy give the same angle."""
    rng = np.random.default_rng(3)
    img = rng.random((60, 70)).astype(np.float32) * 255
    pts = np.array([[20, 20], [35, 30], [49, 40], [25, 44]], np.float32)
    radius = 7
    got = centroid_angles(torch.from_numpy(img)[None], torch.from_numpy(pts)[None], radius)[0]
    for (px, py), angle in zip(pts.astype(int), got.numpy(), strict=True):
        m10 = m01 = 0.0
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                if dx * dx + dy * dy <= radius * radius:
                    m10 += dx * img[py + dy, px + dx]
                    m01 += dy * img[py + dy, px + dx]
        assert angle_gap(angle, np.rad2deg(np.arctan2(m01, m10)) % 360) < 1e-3


@pytest.mark.parametrize('phi, turns', [(90.0, 1), (180.0, 2), (270.0, 3)])
def test_copies_at_right_angles_are_exact_rot90(phi, turns):
    """A copy at phi holds the image turned by -phi: np.rot90 (counter-clockwise) exactly."""
    img = textured(24, 36)[..., 0].astype(np.float32)
    size, affine = copy_geometry(24, 36, phi)
    got = rotated_copy(torch.from_numpy(img)[None, None], size, affine)[0, 0].numpy()
    expect = np.rot90(img, turns)
    assert got.shape == expect.shape
    np.testing.assert_allclose(got, expect, atol=1e-3)


def test_diagonal_copy_agrees_with_opencv_warp_affine():
    """The 45-degree copy equals cv2.warpAffine with the same map (inside the image)."""
    img = textured(40, 56)[..., 1].astype(np.float32)
    size, (a, b, tx, c, d, ty) = copy_geometry(40, 56, 45.0)
    got = rotated_copy(torch.from_numpy(img)[None, None], size, (a, b, tx, c, d, ty))[0, 0]
    matrix = np.array([[a, b, tx], [c, d, ty]], np.float64)
    expect = cv2.warpAffine(img, matrix, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.ones_like(img), matrix, (size[1], size[0]),
                            flags=cv2.INTER_NEAREST) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # OpenCV interpolates with 1/32-pixel weights: allow that much of the local contrast.
    assert np.abs(got.numpy() - expect)[inside].max() < 255 / 32
    # ... and the whole image fits: every source corner lands inside the copy.
    corners = torch.tensor([[0.0, 0.0], [55.0, 0.0], [0.0, 39.0], [55.0, 39.0]])
    moved = map_points(corners, (a, b, tx, c, d, ty)).numpy()
    assert (moved >= -1e-4).all() and (moved[:, 0] <= size[1] - 1 + 1e-4).all()
    assert (moved[:, 1] <= size[0] - 1 + 1e-4).all()


def test_blend_picks_the_bracketing_copies_with_linear_weights():
    k, n, d = 8, 4, 3
    descs = torch.nn.functional.normalize(torch.randn(1, k, n, d, generator=torch.Generator()
                                                      .manual_seed(0)), dim=-1)
    angles = torch.tensor([[90.0, 22.5, 350.0, 359.999]])
    got = blend_copies(descs, angles)[0]
    ref = [descs[0, 2, 0],                                       # exactly copy 2
           descs[0, 0, 1] + descs[0, 1, 1],                      # half way 0 / 1
           descs[0, 7, 2] * (1 - 35 / 45) + descs[0, 0, 2] * (35 / 45),   # wraps 7 -> 0
           descs[0, 0, 3]]
    ref = torch.nn.functional.normalize(torch.stack(ref), dim=-1)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


def test_upright_detector_reports_nothing_estimated(detector, image):
    r = detector.detect([image])[0]
    assert len(r) > 0 and r.upright_descriptors is None
    assert (r.sizes == NOT_ESTIMATED_SIZE).all() and (r.angles == NOT_ESTIMATED_ANGLE).all()


@pytest.fixture(scope='module')
def oriented() -> ElfDetector:
    return ElfDetector(small_config(orientation='centroid', rotations=8, max_keypoints=60))


def describe_at(det: ElfDetector, img: np.ndarray, xy: np.ndarray, centre: bool = False):
    """Angles and oriented descriptors of given keypoints, through the detector's network."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    gray = x.mean(dim=1)
    xn = det._normalise(x)
    with torch.no_grad():
        _, maps = det.network(xn, None)
    angles, desc = oriented_descriptors(torch_describer(det.network), xn, gray, maps,
                                        torch.from_numpy(xy)[None], det.config.rotations,
                                        centre=centre)
    upright = sample_descriptor_maps(maps, torch.from_numpy(xy)[None], img.shape[1],
                                     img.shape[0])
    return angles[0].numpy(), desc[0].numpy(), upright[0].numpy()


@pytest.mark.parametrize('centre', [False, True])
def test_rot90_turns_angles_by_90_and_keeps_oriented_descriptors(oriented, centre):
    """
    The same points in np.rot90 of the image (counter-clockwise).

    Angles drop by 90 degrees, oriented descriptors stay the same, upright descriptors change.
    With descriptor centring too: the centre is the mean over all copies, which the turned
    image shares.
    """
    img = textured(96, 96, seed=4)
    rng = np.random.default_rng(1)
    xy = rng.uniform(20, 75, (40, 2)).astype(np.float32)
    turned = np.ascontiguousarray(np.rot90(img))
    xy2 = np.stack([xy[:, 1], img.shape[1] - 1 - xy[:, 0]], axis=1)
    a1, d1, u1 = describe_at(oriented, img, xy, centre)
    a2, d2, u2 = describe_at(oriented, turned, xy2, centre)
    assert angle_gap(a1 - 90.0, a2).max() < 0.1
    cos_oriented = (d1 * d2).sum(1)
    cos_upright = (u1 * u2).sum(1)
    assert cos_oriented.min() > 0.999           # copy k+2 of one = copy k of the other
    assert np.median(cos_upright) < 0.99        # what a CNN sees does change


def test_oriented_detector_fills_angles_sizes_and_both_descriptors(oriented):
    img = textured(96, 128, seed=4)
    r = oriented.detect([img])[0]
    assert len(r) > 0
    assert (r.angles >= 0).all() and (r.angles < 360).all()
    assert (r.sizes == 31).all()                 # the 31 px disc, network = source pixels
    assert r.upright_descriptors.shape == r.descriptors.shape
    np.testing.assert_allclose(np.linalg.norm(r.descriptors, axis=1), 1, atol=1e-5)
    a, d, u = describe_at(oriented, img, r.keypoints)
    np.testing.assert_allclose(r.angles, a, atol=1e-3)
    np.testing.assert_allclose(r.descriptors, d, atol=1e-4)
    np.testing.assert_allclose(r.upright_descriptors, u, atol=1e-4)


def test_centred_oriented_detector_matches_its_reference_and_centres_upright_too():
    img = textured(96, 128, seed=4)
    det = ElfDetector(small_config(orientation='centroid', rotations=4, max_keypoints=60,
                                   descriptor_centering=True))
    r = det.detect([img])[0]
    _a, d, _u = describe_at(det, img, r.keypoints, centre=True)
    np.testing.assert_allclose(r.descriptors, d, atol=1e-4)
    upright = ElfDetector(small_config(max_keypoints=60, descriptor_centering=True))
    u = upright.detect([img])[0]
    np.testing.assert_array_equal(u.keypoints, r.keypoints)
    np.testing.assert_allclose(r.upright_descriptors, u.descriptors, atol=1e-5)


def test_orientation_is_a_runtime_field(detector, image):
    det = ElfDetector(small_config())
    det.update(orientation='centroid', rotations=4)
    r = det.detect([image])[0]
    assert r.upright_descriptors is not None and (r.angles >= 0).all()
    det.update(orientation='upright')
    assert det.detect([image])[0].upright_descriptors is None


@pytest.mark.parametrize('changes', [dict(orientation='sift'), dict(rotations=1)])
def test_bad_orientation_fields_are_refused(changes):
    with pytest.raises(ConfigError, match=next(iter(changes))):
        small_config(**changes).validate()


def test_per_pair_choice_takes_the_kind_with_more_matches():
    rng = np.random.default_rng(0)
    same = rng.standard_normal((30, 16)).astype(np.float32)
    other = rng.standard_normal((30, 16)).astype(np.float32)
    noisy = same + 0.01 * rng.standard_normal(same.shape).astype(np.float32)
    matches, oriented = match_upright_or_oriented((same, other), (same, noisy))
    assert oriented and len(matches) == len(match_descriptors(same, noisy)) == 30
    matches, oriented = match_upright_or_oriented((same, noisy), (same, other))
    assert not oriented and len(matches) == 30
