"""Threshold scale and sub-pixel keypoints on synthetic saliency maps, against numpy references."""
import cv2
import numpy as np
import pytest
import torch

from elf_ros.core import ElfDetector
from elf_ros.core import postprocess as pp

from .conftest import small_config, textured
from .test_postprocess import brute_force_kapur, sequential_nms

K_THR = pp.gaussian_kernel1d(5, 5.0)
K_NOISE = pp.gaussian_kernel1d(5, 4.0)


def smooth_saliency(h: int, w: int, seed: int) -> np.ndarray:
    """Random smooth map in [0, 1] with max 1, like a normalised ELF saliency."""
    rng = np.random.default_rng(seed)
    s = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32) ** 3, (0, 0), 2.0)
    return (s / s.max()).astype(np.float32)


def run(sal: np.ndarray, **kw):
    args = dict(nms_radius=3, border=2, max_keypoints=0)
    args.update(kw)
    xy, score, count, thr, _ = pp.keypoints_from_saliency(
        torch.from_numpy(sal)[None], K_THR, K_NOISE, **args)
    n = int(count[0])
    return xy[0, :n].numpy(), score[0, :n].numpy(), float(thr[0])


def kept_reference(sal: np.ndarray, scale: float, radius: int, border: int) -> set:
    """Paper pipeline in numpy: Kapur on the blurred map (threshold scaled), clamp, greedy NMS."""
    q = torch.floor(torch.from_numpy(sal)[None] * 255)
    hist = np.bincount(pp.blur_uint8(q, K_THR)[0].numpy().astype(int).ravel(), minlength=256)
    thr = brute_force_kapur(hist.astype(np.float64)) * scale
    den = np.maximum(pp.blur_uint8(q, K_NOISE)[0].numpy(), thr)
    kept = sequential_nms(den, den > thr, radius)
    h, w = sal.shape
    return {(x, y) for y, x in zip(*np.nonzero(kept), strict=True)
            if border <= x < w - border and border <= y < h - border}


@pytest.mark.parametrize('scale', [1.0, 0.5, 0.25, 0.0, 2.0])
def test_threshold_scale_keeps_the_nms_maxima_above_the_scaled_kapur(scale):
    sal = smooth_saliency(48, 64, seed=int(scale * 4))
    xy, _score, thr = run(sal, threshold_scale=scale)
    assert {(int(x), int(y)) for x, y in xy} == kept_reference(sal, scale, 3, 2)
    assert thr * 255 == pytest.approx(scale * kapur_of(sal), abs=1e-4)


def kapur_of(sal: np.ndarray) -> float:
    q = torch.floor(torch.from_numpy(sal)[None] * 255)
    hist = np.bincount(pp.blur_uint8(q, K_THR)[0].numpy().astype(int).ravel(), minlength=256)
    return float(brute_force_kapur(hist.astype(np.float64)))


def test_lower_threshold_scale_keeps_more_and_zero_keeps_every_positive_maximum():
    sal = smooth_saliency(64, 80, seed=11)
    counts = [len(run(sal, threshold_scale=s)[0]) for s in (1.0, 0.5, 0.0)]
    assert counts[0] < counts[1] <= counts[2]
    # Scale 0 equals plain NMS over every pixel with positive (quantised, blurred) saliency.
    q = torch.floor(torch.from_numpy(sal)[None] * 255)
    den = pp.blur_uint8(q, K_NOISE)[0].numpy()
    ref = sequential_nms(den, den > 0, 3)
    ref[:2], ref[-2:], ref[:, :2], ref[:, -2:] = False, False, False, False
    assert counts[2] == int(ref.sum())


def parabola_reference(fine: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Vertex of the 1-D parabolas through (x-1, x, x+1) and (y-1, y, y+1), clamped to 0.5."""
    def fit(a: float, b: float, c: float) -> float:
        curv = a - 2 * b + c
        return 0.0 if curv >= 0 else float(np.clip(0.5 * (a - c) / curv, -0.5, 0.5))
    return (fit(fine[y, x - 1], fine[y, x], fine[y, x + 1]),
            fit(fine[y - 1, x], fine[y, x], fine[y + 1, x]))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_subpixel_equals_a_numpy_parabola_fit_of_the_float_saliency(seed):
    sal = smooth_saliency(48, 64, seed)
    xy0, score0, _ = run(sal, threshold_scale=0.0)
    xy, score, _ = run(sal, threshold_scale=0.0, subpixel=True)
    # Same maxima (NMS/threshold on the quantised map), each moved by at most half a pixel.
    cells = np.round(xy0).astype(int)
    fine = cv2.GaussianBlur(sal * np.float32(255), (5, 5), 4.0, borderType=cv2.BORDER_REFLECT_101)
    moved = 0
    for (x, y), s in zip(xy, score, strict=True):
        cx, cy = cells[np.abs(cells - [x, y]).max(1).argmin()]   # maxima are > 3 px apart
        dx, dy = parabola_reference(fine, cx, cy)
        np.testing.assert_allclose([x, y], [cx + dx, cy + dy], atol=1e-4)
        assert s == pytest.approx(fine[cy, cx] / 255, abs=1e-5)     # float, not 1/255 levels
        moved += abs(dx) > 0.01 or abs(dy) > 0.01
    assert len(xy) == len(xy0) > 20 and moved > len(xy) // 2
    assert np.all(np.diff(score) <= 0)
    # Scores are no longer a handful of 1/255 levels.
    assert len(np.unique(score)) == len(score) > len(np.unique(score0))


@pytest.mark.parametrize('centre', [(20.3, 15.7), (23.45, 17.05), (21.0, 16.5)])
def test_subpixel_recovers_the_centre_of_a_gaussian_blob(centre):
    yy, xx = np.mgrid[0:40, 0:48]
    sal = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * 2.0 ** 2))
    xy, _s, _t = run(sal.astype(np.float32), subpixel=True, max_keypoints=1)
    assert np.abs(xy[0] - centre).max() < 0.1
    xy_int, _s, _t = run(sal.astype(np.float32), max_keypoints=1)
    assert np.all(xy_int[0] == np.round(xy_int[0]))             # whole pixels without it


def test_detector_subpixel_moves_by_at_most_half_a_pixel_and_scores_from_float():
    img = textured(96, 128, 4)
    off = ElfDetector(small_config(max_keypoints=0)).detect([img])[0]
    det = ElfDetector(small_config(max_keypoints=0, subpixel=True))
    on = det.detect([img])[0]
    assert len(on) == len(off) > 20
    dist = np.abs(on.keypoints[:, None] - off.keypoints[None]).max(-1)
    assert np.all(dist.min(1) <= 0.5 + 1e-5)
    assert np.mean(on.keypoints != np.round(on.keypoints)) > 0.5
    assert np.all(np.diff(on.scores) <= 0) and on.scores.max() <= 1
    np.testing.assert_allclose(np.linalg.norm(on.descriptors, axis=1), 1, atol=1e-5)
    # Runtime switch: back off reproduces the integer result exactly.
    det.update(subpixel=False)
    again = det.detect([img])[0]
    np.testing.assert_array_equal(again.keypoints, off.keypoints)
    np.testing.assert_array_equal(again.scores, off.scores)


def test_detector_descriptors_are_sampled_at_the_refined_positions(monkeypatch):
    img = textured(96, 128, 6)
    det = ElfDetector(small_config(subpixel=True))
    seen = {}
    real = pp.sample_descriptor_maps

    def spy(feats, xy, width, height, centres=None):
        seen['xy'] = xy.clone()
        return real(feats, xy, width, height, centres)

    monkeypatch.setattr('elf_ros.core.detector.sample_descriptor_maps', spy)
    r = det.detect([img])[0]
    np.testing.assert_array_equal(seen['xy'][0, :len(r)].numpy(), r.keypoints)


def test_descriptor_centering_is_a_runtime_field_that_makes_descriptors_less_alike():
    img = textured(96, 128, 6)
    det = ElfDetector(small_config(subpixel=True))
    plain = det.detect([img])[0]
    det.update(descriptor_centering=True)
    centred = det.detect([img])[0]
    np.testing.assert_array_equal(centred.keypoints, plain.keypoints)
    np.testing.assert_allclose(np.linalg.norm(centred.descriptors, axis=1), 1, atol=1e-5)

    def mean_cosine(d: np.ndarray) -> float:
        c = d @ d.T
        return float((c.sum() - np.trace(c)) / (len(d) * (len(d) - 1)))

    # The shared component of the (post-ReLU) maps is gone: other points look less alike.
    assert mean_cosine(centred.descriptors) < mean_cosine(plain.descriptors) - 0.2
    det.update(descriptor_centering=False)
    np.testing.assert_array_equal(det.detect([img])[0].descriptors, plain.descriptors)


def test_detector_threshold_scale_one_is_the_paper_and_lower_keeps_more():
    img = textured(120, 160, 8)
    base = ElfDetector(small_config(max_keypoints=0)).detect([img])[0]
    det = ElfDetector(small_config(max_keypoints=0, threshold_scale=1.0))
    one = det.detect([img])[0]
    np.testing.assert_array_equal(one.keypoints, base.keypoints)
    det.update(threshold_scale=0.5)
    half = det.detect([img])[0]
    det.update(threshold_scale=0.0)
    zero = det.detect([img])[0]
    assert len(base) < len(half) <= len(zero)
    assert half.threshold == pytest.approx(base.threshold / 2, abs=1e-6) and zero.threshold == 0
    assert np.all(half.scores > half.threshold)
