"""Each post-processing stage against an independent, obviously-correct reference."""
import math

import cv2
import numpy as np
import pytest
import torch

from elf_ros.core import postprocess as pp


def brute_force_kapur(hist: np.ndarray) -> int:
    """Kapur by definition: two explicit entropy sums per threshold, first strict maximum."""
    p = hist / hist.sum()
    best, best_t = -math.inf, 0
    for t in range(256):
        pb, pf = p[:t + 1].sum(), p[t + 1:].sum()
        if pb <= 1e-12 or pf <= 1e-12:
            continue
        hb = -sum(v / pb * math.log(v / pb) for v in p[:t + 1] if v > 0)
        hf = -sum(v / pf * math.log(v / pf) for v in p[t + 1:] if v > 0)
        if hb + hf > best:
            best, best_t = hb + hf, t
    return best_t


def sequential_nms(score: np.ndarray, cand: np.ndarray, r: int) -> np.ndarray:
    """SuperPoint-style greedy NMS: visit by score (ties in raster order), suppress windows."""
    h, w = score.shape
    order = sorted(zip(*np.nonzero(cand), strict=True), key=lambda p: (-score[p], p[0] * w + p[1]))
    suppressed = np.zeros_like(cand)
    kept = np.zeros_like(cand)
    for y, x in order:
        if suppressed[y, x]:
            continue
        kept[y, x] = True
        suppressed[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = True
    return kept


@pytest.mark.parametrize('case', ['bimodal', 'uniform', 'spike', 'random'])
def test_kapur_equals_brute_force_on_known_histograms(case):
    rng = np.random.default_rng(3)
    hist = {
        'bimodal': np.exp(-0.5 * ((np.arange(256) - 60) / 12) ** 2) * 1000
        + np.exp(-0.5 * ((np.arange(256) - 190) / 20) ** 2) * 300,
        'uniform': np.ones(256) * 7,
        'spike': np.eye(1, 256, 40)[0] * 500 + np.eye(1, 256, 41)[0] * 3
        + np.eye(1, 256, 200)[0] * 9,
        'random': rng.integers(0, 50, 256) * (rng.random(256) < 0.6),
    }[case]
    hist = np.round(hist).astype(np.int64)
    for kapur in (pp.kapur_threshold, pp._kapur_vectorised):     # the CPU and GPU forms
        got = kapur(torch.from_numpy(hist)[None])
        assert int(got[0]) == brute_force_kapur(hist.astype(np.float64))


def test_kapur_batched_rows_are_independent():
    rng = np.random.default_rng(4)
    hists = rng.integers(0, 100, (5, 256))
    for kapur in (pp.kapur_threshold, pp._kapur_vectorised):
        got = kapur(torch.from_numpy(hists))
        assert got.tolist() == [brute_force_kapur(h.astype(np.float64)) for h in hists]


def test_kapur_cpu_loop_equals_the_vectorised_form():
    """Sparse, dense and near-empty histograms: the same thresholds either way."""
    rng = np.random.default_rng(6)
    hists = rng.integers(0, 5000, (300, 256)) * (rng.random((300, 256)) < rng.random((300, 1)))
    hists[0] = 0
    hists[1, 17] = 9
    got = pp.kapur_threshold(torch.from_numpy(hists))
    assert got.dtype == torch.long
    assert torch.equal(got, pp._kapur_vectorised(torch.from_numpy(hists)))


def test_histogram_counts_each_image_separately():
    img = torch.tensor([[[0, 0], [255, 3]], [[3, 3], [3, 3]]], dtype=torch.float32)
    hist = pp.histogram256(img)
    assert hist.shape == (2, 256)
    assert hist[0, 0] == 2 and hist[0, 255] == 1 and hist[0, 3] == 1
    assert hist[1, 3] == 4 and int(hist[1].sum()) == 4
    rng = np.random.default_rng(5)                     # every bin, against numpy
    maps = rng.integers(0, 256, (3, 37, 53))
    got = pp.histogram256(torch.from_numpy(maps).float())
    assert got.tolist() == [np.bincount(m.ravel(), minlength=256).tolist() for m in maps]


@pytest.mark.parametrize('radius', [1, 2, 4, 10])
def test_nms_equals_sequential_greedy(radius):
    rng = np.random.default_rng(radius)
    # Coarse integer scores make many ties, as on the real quantised maps.
    score = rng.integers(0, 12, (3, 37, 53)).astype(np.float32)
    cand = score > 5
    got = pp.nms(torch.from_numpy(score), torch.from_numpy(cand), radius).numpy()
    for b in range(3):
        np.testing.assert_array_equal(got[b], sequential_nms(score[b], cand[b], radius))


def test_nms_on_a_smooth_map_with_plateaus():
    rng = np.random.default_rng(7)
    score = np.round(cv2.GaussianBlur(rng.random((64, 80)).astype(np.float32), (9, 9), 3) * 40)
    cand = score > np.median(score)
    got = pp.nms(torch.from_numpy(score)[None], torch.from_numpy(cand)[None], 3)[0].numpy()
    np.testing.assert_array_equal(got, sequential_nms(score, cand, 3))


@pytest.mark.parametrize('radius', [1, 3, 10])
def test_window_max_equals_max_pool(radius):
    x = torch.rand(2, 30, 41, dtype=torch.float64)
    ref = torch.nn.functional.max_pool2d(x[:, None], 2 * radius + 1, 1, radius)[:, 0]
    torch.testing.assert_close(pp._max_window(x, radius), ref)


@pytest.mark.parametrize('ksize,sigma', [(5, 5.0), (5, 4.0), (17, 6.0), (7, 0.0)])
def test_gaussian_blur_matches_opencv(ksize, sigma):
    rng = np.random.default_rng(1)
    img = (rng.random((40, 52)) * 255).astype(np.float32)
    kernel = pp.gaussian_kernel1d(ksize, sigma)
    np.testing.assert_allclose(kernel.numpy(), cv2.getGaussianKernel(ksize, sigma)[:, 0],
                               rtol=1e-5, atol=1e-7)
    got = pp.gaussian_blur(torch.from_numpy(img)[None], kernel)[0].numpy()
    np.testing.assert_allclose(got, cv2.GaussianBlur(img, (ksize, ksize), sigma), atol=1e-3)
    # On uint8 maps OpenCV rounds in fixed point; we round in float: at most 1 level apart.
    u8 = img.astype(np.uint8)
    got8 = pp.blur_uint8(torch.from_numpy(u8.astype(np.float32))[None], kernel)[0].numpy()
    assert np.abs(got8 - cv2.GaussianBlur(u8, (ksize, ksize), sigma)).max() <= 1


@pytest.mark.parametrize('ksize,sigma', [(1, 0.0), (5, 5.0), (7, 4.0)])
def test_cpu_opencv_blurs_equal_the_float_definitions(ksize, sigma):
    """
    The CPU's OpenCV blurs equal the float definitions.

    The uint8 map blurred by OpenCV equals floor(255 s) blurred in float and rounded; the
    scale on the taps equals blurring 255 s; OpenCV's filter equals torch's shifted slices.
    """
    rng = np.random.default_rng(ksize)
    sal = cv2.GaussianBlur(rng.random((2, 45, 61)).astype(np.float32).transpose(1, 2, 0),
                           (0, 0), 2).transpose(2, 0, 1)
    sal = torch.from_numpy(np.ascontiguousarray(sal / sal.max()))
    kernel = pp.gaussian_kernel1d(ksize, sigma)
    got = pp.quantised_blur(sal, kernel)
    assert got.dtype == torch.uint8
    assert torch.equal(got.float(), pp.blur_uint8(torch.floor(sal * 255.0), kernel))
    torch.testing.assert_close(pp.gaussian_blur(sal, kernel, scale=255.0),
                               pp.gaussian_blur(sal * 255.0, kernel), rtol=1e-6, atol=1e-4)
    if ksize > 1:         # OpenCV's filter against torch's shifted slices (the path off the CPU)
        pad = ksize // 2
        padded = torch.nn.functional.pad(sal[:, None], (pad,) * 4, mode='reflect')[:, 0]
        slices = pp._shifted_sum(pp._shifted_sum(padded, kernel, -1), kernel, -2)
        torch.testing.assert_close(pp.gaussian_blur(sal, kernel), slices, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('exact_ties', [True, False])
def test_sparse_and_dense_topk_equal_a_sorted_reference(exact_ties):
    """The CPU (kept points only) and GPU (whole map) top-k give the reference's rows."""
    rng = np.random.default_rng(7)
    score = torch.from_numpy(rng.integers(0, 40, (3, 31, 43)).astype(np.float32) if exact_ties
                             else rng.random((3, 31, 43)).astype(np.float32))
    kept = torch.from_numpy(rng.random((3, 31, 43)) < 0.1)
    kept[2] = False                                                    # an image with none
    _, h, w = score.shape
    mask = kept.clone()
    mask[:, :2], mask[:, -2:], mask[:, :, :2], mask[:, :, -2:] = False, False, False, False
    order = pp.nms_keys(score) if exact_ties else score.reshape(3, -1)
    for fn in (pp._sparse_topk, lambda *a: pp._dense_topk(*a, exact_ties)):
        xy, sc, count = fn(score, mask, order, 25)
        for b in range(3):
            idx = np.flatnonzero(mask[b].numpy())
            ranked = idx[np.lexsort((idx, -score[b].numpy().ravel()[idx]))][:25]
            n = len(ranked)
            assert int(count[b]) == n
            np.testing.assert_array_equal(xy[b, :n].numpy(),
                                          np.stack((ranked % w, ranked // w), 1))
            np.testing.assert_array_equal(sc[b, :n].numpy(), score[b].numpy().ravel()[ranked])


def test_select_topk_drops_border_and_orders_by_score():
    score = torch.zeros(1, 20, 30)
    kept = torch.zeros(1, 20, 30, dtype=torch.bool)
    for (y, x, s) in [(1, 5, 9.0), (10, 10, 3.0), (12, 20, 7.0), (10, 28, 8.0), (15, 4, 3.0)]:
        score[0, y, x], kept[0, y, x] = s, True
    xy, sc, count = pp.select_topk(score, kept, border=3, k=10)
    assert int(count[0]) == 3
    assert xy[0, :3].tolist() == [[20, 12], [10, 10], [4, 15]]
    assert sc[0, :3].tolist() == [7.0, 3.0, 3.0]
    xy, sc, count = pp.select_topk(score, kept, border=3, k=2)
    assert int(count[0]) == 2 and xy[0].tolist() == [[20, 12], [10, 10]]


def manual_bilinear(feat: np.ndarray, u: float, v: float) -> np.ndarray:
    x0, y0 = int(math.floor(u)), int(math.floor(v))
    x1, y1 = min(x0 + 1, feat.shape[2] - 1), min(y0 + 1, feat.shape[1] - 1)
    ax, ay = u - x0, v - y0
    return ((1 - ax) * (1 - ay) * feat[:, y0, x0] + ax * (1 - ay) * feat[:, y0, x1]
            + (1 - ax) * ay * feat[:, y1, x0] + ax * ay * feat[:, y1, x1])


def test_descriptor_sampling_equals_manual_bilinear():
    rng = np.random.default_rng(5)
    feat = rng.standard_normal((1, 6, 9, 13)).astype(np.float32)
    width, height = 49, 33                        # network pixels, feature stride ~4
    xy = np.array([[[0, 0], [48, 32], [17.0, 9.0], [30.5, 21.25], [3, 30]]], np.float32)
    got = pp.sample_descriptors(torch.from_numpy(feat), torch.from_numpy(xy), width, height)
    for i, (x, y) in enumerate(xy[0]):
        # align_corners=True: pixel 0 -> cell 0, pixel W-1 -> last cell.
        ref = manual_bilinear(feat[0], x * 12 / 48, y * 8 / 32)
        np.testing.assert_allclose(got[0, i].numpy(), ref / np.linalg.norm(ref), atol=1e-5)


def test_centred_sampling_equals_sampling_the_map_minus_its_mean():
    rng = np.random.default_rng(6)
    feats = [rng.random((2, c, 9, 13)).astype(np.float32) + 0.5 for c in (6, 4)]
    width, height = 49, 33
    xy = np.array([[[17.0, 9.0], [30.5, 21.25], [3.2, 30.0]]] * 2, np.float32)
    maps = [torch.from_numpy(f) for f in feats]
    centres = pp.map_means(maps)
    got = pp.sample_descriptor_maps(maps, torch.from_numpy(xy), width, height, centres)
    plain = pp.sample_descriptor_maps(maps, torch.from_numpy(xy), width, height)
    for b in range(2):
        for i, (x, y) in enumerate(xy[b]):
            parts = []
            for f in feats:
                centred = f[b] - f[b].mean(axis=(1, 2), keepdims=True)
                ref = manual_bilinear(centred, x * 12 / 48, y * 8 / 32)
                parts.append(ref / np.linalg.norm(ref))
            ref = np.concatenate(parts)
            np.testing.assert_allclose(got[b, i].numpy(), ref / np.linalg.norm(ref), atol=1e-5)
    # Positive maps share a large common component: centring removes it.
    assert (plain[0] @ plain[0].T).mean() > 0.9 > (got[0] @ got[0].T).mean()


def test_all_keypoints_are_sized_by_what_nms_can_keep_not_by_pixels():
    """max_keypoints 0 ("all") must not sample and copy a descriptor for every pixel."""
    torch.manual_seed(3)
    score = torch.rand(1, 40, 50) * 255
    for radius in (0, 2, 4):
        kept, _ = pp.nms_rounds(score, score > 20, radius, None)
        bound = pp.max_kept_points(40, 50, 3, radius)
        xy, _sc, count = pp.select_topk(score, kept, border=3, k=0, nms_radius=radius)
        inner = kept[:, 3:37, 3:47].sum()
        assert int(count[0]) == int(inner) <= bound == xy.shape[1]
    assert pp.max_kept_points(480, 640, 10, 10) == 42 * 57  # vs 307200 pixels


@pytest.mark.parametrize('sigma', [0.7, 1.0, 1.4])
def test_input_blur_equals_opencv_gaussian_per_channel(sigma):
    """input_blur_sigma's blur: each channel as cv2.GaussianBlur with a +-ceil(3 sigma) kernel."""
    assert pp.gaussian_taps(0.0) is None
    kernel = pp.gaussian_taps(sigma)
    size = 2 * math.ceil(3 * sigma) + 1
    assert kernel.numel() == size
    rng = np.random.default_rng(3)
    images = (rng.random((2, 3, 37, 50)) * 255).astype(np.float32)
    got = pp.blur_images(torch.from_numpy(images), sigma, kernel).numpy()
    # channels-last (the detector's layout, OpenCV's path) and the slices off OpenCV agree
    last = torch.from_numpy(images).contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(pp.blur_images(last, sigma, kernel).numpy(), got, atol=1e-3)
    np.testing.assert_allclose(pp.blur_images(torch.from_numpy(images).double(), sigma,
                                              kernel.double()).numpy(), got, atol=1e-3)
    for b in range(2):
        ref = cv2.GaussianBlur(images[b].transpose(1, 2, 0), (size, size), sigma)
        np.testing.assert_allclose(got[b], ref.transpose(2, 0, 1), atol=1e-3)
