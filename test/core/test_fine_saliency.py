"""Float NMS (threshold_nms) and detection on an upsampled image, against references."""
import cv2
import numpy as np
import pytest
from scipy.ndimage import maximum_filter
import torch

from elf_ros.core import ConfigError, ElfDetector
from elf_ros.core import postprocess as pp
from elf_ros.core.stages import profile_stages, StageClock

from .conftest import small_config, textured

K_THR = pp.gaussian_kernel1d(5, 5.0)
K_NOISE = pp.gaussian_kernel1d(5, 4.0)


def smooth_map(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32) ** 3, (0, 0), 1.5)
    return (s / s.max()).astype(np.float32)


def reference_float_keypoints(sal: np.ndarray, radius: int, border: int, k: int,
                              blur=(5, 4.0), cell: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """
    Float post-processing in numpy/OpenCV/scipy: keypoints (K, 2) and scores (K,).

    Float blur, window-maximum test (on the cell x cell block maxima, each cell standing at its
    own maximum pixel, when cell > 1), border, top-k, 1-D parabolas on the blurred map.
    """
    fine = cv2.GaussianBlur(sal * np.float32(255), (blur[0], blur[0]), blur[1],
                            borderType=cv2.BORDER_REFLECT_101)
    h, w = fine.shape
    hc, wc = -(-h // cell), -(-w // cell)
    padded = np.full((hc * cell, wc * cell), -np.inf, np.float32)
    padded[:h, :w] = fine
    blocks = padded.reshape(hc, cell, wc, cell).transpose(0, 2, 1, 3).reshape(hc, wc, -1)
    best = blocks.argmax(-1)
    pooled = blocks.max(-1)
    r = round(radius / cell)
    cand = pooled > 0
    live = np.where(cand, pooled, -1.0)
    kept = cand & (pooled == maximum_filter(live, size=2 * r + 1, mode='constant', cval=-1.0))
    bc = -(-border // cell)
    ys, xs = np.nonzero(kept)
    inside = (xs >= bc) & (xs < wc - bc) & (ys >= bc) & (ys < hc - bc)
    xs, ys = xs[inside], ys[inside]
    order = np.argsort(-pooled[ys, xs], kind='stable')[:k]
    xs, ys = xs[order], ys[order]
    b = best[ys, xs]
    xs, ys = xs * cell + b % cell, ys * cell + b // cell

    def vertex(a, b, c):
        curv = a - 2 * b + c
        return np.where(curv < 0, np.clip(0.5 * (a - c) / np.where(curv < 0, curv, 1), -.5, .5),
                        0.0)
    dx = vertex(fine[ys, xs - 1], fine[ys, xs], fine[ys, xs + 1])
    dy = vertex(fine[ys - 1, xs], fine[ys, xs], fine[ys + 1, xs])
    return np.stack([xs + dx, ys + dy], 1), fine[ys, xs] / 255


def raster_first_reference(kept: np.ndarray, radius: int) -> np.ndarray:
    """Loop reference: drop a point with a kept point earlier in raster order in its window."""
    out = kept.copy()
    ys, xs = np.nonzero(kept)
    for y, x in zip(ys, xs, strict=True):
        win = kept[max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1]
        wy, wx = np.nonzero(win)
        gy, gx = wy + max(y - radius, 0), wx + max(x - radius, 0)
        out[y, x] = not np.any(gy * kept.shape[1] + gx < y * kept.shape[1] + x)
    return out


@pytest.mark.parametrize('radius', [1, 3, 6])
def test_threshold_nms_keeps_the_window_maxima_above_the_threshold(radius):
    rng = np.random.default_rng(radius)
    score = rng.random((2, 30, 41)).astype(np.float32)
    thr = torch.tensor([0.3, 0.5])
    got = pp.threshold_nms(torch.from_numpy(score), thr, radius).numpy()
    for b in range(2):
        cand = score[b] > float(thr[b])
        live = np.where(cand, score[b], -1.0)
        ref = cand & (score[b] == maximum_filter(live, size=2 * radius + 1, mode='constant',
                                                 cval=-1.0))
        np.testing.assert_array_equal(got[b], ref)
    # Greedy NMS keeps a superset (checked on distinct integer scores, the keys greedy NMS
    # orders exactly).
    ranks = torch.from_numpy(rng.permutation(30 * 41).reshape(1, 30, 41).astype(np.float32))
    one_pass = pp.threshold_nms(ranks, torch.tensor([300.0]), radius)
    greedy = pp.nms(ranks, ranks > 300, radius)
    assert bool(greedy[one_pass].all()) and int(greedy.sum()) >= int(one_pass.sum()) > 0


@pytest.mark.parametrize('radius', [1, 2, 5])
def test_threshold_nms_keeps_one_point_per_patch_of_equal_maxima(radius):
    """
    Equal maxima within a window keep only the first in raster order.

    A saturated patch (constant) and a periodic one (the stem's checkerboard on a flat,
    upsampled input) keep only the raster-first of equal maxima within a window, as the loop
    reference: one point per patch (radius 1 keeps the checkerboard's top row, whose peaks
    are 2 px apart); distinct peaks elsewhere are kept as before.
    """
    rng = np.random.default_rng(radius)
    score = (rng.random((40, 60)) * 0.5).astype(np.float32)
    score[5:15, 5:25] = 0.8                                            # flat patch
    yy, xx = np.mgrid[20:34, 30:56]
    score[20:34, 30:56] = np.where((yy + xx) % 2 == 0, 0.9, 0.6)       # checkerboard patch
    s = torch.from_numpy(score)[None]
    got = pp.threshold_nms(s, torch.tensor([0.2]), radius)[0].numpy()
    plain = (score > 0.2) & (score == maximum_filter(score, size=2 * radius + 1,
                                                      mode='constant', cval=-np.inf))
    np.testing.assert_array_equal(got, raster_first_reference(plain, radius))
    assert got[5:15, 5:25].sum() == 1 and got[5, 5]
    assert got[20:34, 30:56].sum() == (13 if radius == 1 else 1) and got[20, 30]
    # The dense rule alone (what a GPU runs) gives the same mask.
    np.testing.assert_array_equal(pp._raster_first(torch.from_numpy(plain)[None], radius)[0],
                                  got)


@pytest.mark.parametrize('seed', [0, 1])
def test_float_nms_mode_equals_a_numpy_reference(seed):
    sal = smooth_map(48, 64, seed)
    xy, score, count, thr, _ = pp.keypoints_from_saliency(
        torch.from_numpy(sal)[None], K_THR, K_NOISE, threshold_scale=0.0, nms_radius=3,
        border=2, max_keypoints=40, subpixel=True, nms_mode='float')
    n = int(count[0])
    ref_xy, ref_score = reference_float_keypoints(sal, 3, 2, 40)
    assert n == len(ref_xy) > 10 and float(thr[0]) == 0
    np.testing.assert_allclose(xy[0, :n].numpy(), ref_xy, atol=1e-3)
    np.testing.assert_allclose(score[0, :n].numpy(), ref_score, atol=1e-5)


def test_float_nms_mode_needs_subpixel():
    with pytest.raises(ConfigError, match='nms_mode.*subpixel'):
        small_config(nms_mode='float').validate()
    with pytest.raises(ValueError, match='subpixel'):
        pp.keypoints_from_saliency(torch.zeros(1, 20, 20), K_THR, K_NOISE, nms_mode='float')


def reference_fine_detection(det: ElfDetector, img: np.ndarray, up: float, radius: int,
                             border: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """
    Detect on an upsampled image by hand: keypoints (K, 2) and descriptors (K, D).

    Upsample with OpenCV, saliency by backward of 0.5 ||F||^2, numpy post-processing at the
    fine scale, positions mapped back to the original pixels, descriptors sampled by hand
    (bilinear, align_corners) from the description map of the original-size image.
    """
    h, w = img.shape[:2]
    fh, fw = round(h * up), round(w * up)
    mean, std = (np.array(v, np.float32) for v in (det.backbone.mean, det.backbone.std))
    norm = (img.astype(np.float32) / 255 - mean) / std
    fine_img = cv2.resize(norm, (fw, fh), interpolation=cv2.INTER_LINEAR)
    x = torch.from_numpy(fine_img).permute(2, 0, 1)[None].clone().requires_grad_(True)
    f, _ = det.network(x)
    (0.5 * f.pow(2).sum()).backward()
    s = x.grad.abs().mean(1)[0].numpy()
    sal = (s / s.max()).astype(np.float32)
    xy_fine, _score = reference_float_keypoints(sal, radius, border, k, cell=int(up))
    xy = (xy_fine + 0.5) * np.array([w / fw, h / fh]) - 0.5
    with torch.no_grad():
        _f, (dmap,) = det.network(torch.from_numpy(norm).permute(2, 0, 1)[None])
    dmap = dmap[0].numpy()
    c, dh, dw = dmap.shape
    desc = []
    for px, py in xy:
        gx, gy = px * (dw - 1) / (w - 1), py * (dh - 1) / (h - 1)
        x0, y0 = int(np.floor(gx)), int(np.floor(gy))
        ax, ay = gx - x0, gy - y0
        v = sum(wt * dmap[:, min(yy, dh - 1), min(xx, dw - 1)] for wt, xx, yy in (
            ((1 - ax) * (1 - ay), x0, y0), (ax * (1 - ay), x0 + 1, y0),
            ((1 - ax) * ay, x0, y0 + 1), (ax * ay, x0 + 1, y0 + 1)))
        desc.append(v / np.linalg.norm(v))
    return xy, np.array(desc)


@pytest.mark.parametrize('up', [2.0, 1.5, 3.0])
def test_saliency_upsample_equals_an_independent_reference(up):
    img = textured(48, 64, 5)
    det = ElfDetector(small_config(preprocessing='imagenet', threshold_scale=0.0, subpixel=True,
                                   nms_mode='float', saliency_upsample=up, nms_radius=2,
                                   border=3, max_keypoints=30))
    r = det.detect([img])[0]
    # NMS radius and border scale with the factor; at 2x NMS runs on 2x2 cells (network scale).
    ref_xy, ref_desc = reference_fine_detection(det, img, up, round(2 * up), round(3 * up), 30)
    assert len(r) == len(ref_xy) > 10
    np.testing.assert_allclose(r.keypoints, ref_xy, atol=2e-3)
    np.testing.assert_allclose(r.descriptors, ref_desc, atol=1e-4)


def test_saliency_upsample_one_is_the_plain_detector_and_is_a_runtime_switch():
    img = textured(64, 80, 7)
    plain = ElfDetector(small_config(subpixel=True)).detect([img])[0]
    det = ElfDetector(small_config(subpixel=True, saliency_upsample=2.0))
    fine = det.detect([img], return_saliency=True)[0]
    assert fine.saliency.shape == img.shape[:2]             # maps still at source size
    assert np.all(fine.keypoints >= 0) and np.all(fine.keypoints <= [79, 63])
    det.update(saliency_upsample=1.0)
    again = det.detect([img])[0]
    np.testing.assert_array_equal(again.keypoints, plain.keypoints)
    np.testing.assert_array_equal(again.descriptors, plain.descriptors)


def test_stage_clock_names_every_stage_and_leaves_results_unchanged():
    img = textured(64, 80, 9)
    det = ElfDetector(small_config(subpixel=True, nms_mode='float', saliency_upsample=2.0))
    clock = StageClock()
    timed = det.detect([img], clock=clock)[0]
    plain = det.detect([img])[0]
    np.testing.assert_array_equal(timed.keypoints, plain.keypoints)
    assert {'upload+resize', 'normalise', 'forward (descriptors)', 'upsample',
            'forward (fine)', 'gradient (fine)', 'threshold', 'blur', 'NMS', 'top-k',
            'sub-pixel', 'descriptors', 'device-to-host', 'unpack'} <= set(clock.ms)
    assert all(v >= 0 for v in clock.ms.values())
    stages = profile_stages(det, [img], repeats=2, warmup=0)
    assert stages['total'] == pytest.approx(sum(v for k, v in stages.items() if k != 'total'),
                                            rel=0.5)


@pytest.mark.parametrize('cell', [2, 3])
def test_cell_max_equals_block_maxima(cell):
    fine = torch.from_numpy(np.random.default_rng(cell).random((2, 10, 13)).astype(np.float32))
    got = pp.cell_max(fine, cell).numpy()
    ref = np.array([[[fine[b, y:y + cell, x:x + cell].max() for x in range(0, 13, cell)]
                     for y in range(0, 10, cell)] for b in range(2)])
    np.testing.assert_array_equal(got, ref)


def test_quadratic_offsets_equal_a_least_squares_fit_and_find_a_known_peak():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:30, 0:40].astype(np.float64)
    centre = (17.3, 12.6)
    # An anisotropic, tilted quadratic peak plus noise: the 5x5 least-squares vertex (numpy
    # lstsq) is the reference; without noise it is the true centre.
    ax, ay = xx - centre[0], yy - centre[1]
    clean = 100 - (1.0 * ax ** 2 + 0.6 * ax * ay + 2.0 * ay ** 2)
    for noise, tol in ((0.0, 1e-3), (0.5, None)):
        fine = (clean + rng.normal(0, noise, clean.shape)).astype(np.float32)
        pts = torch.tensor([[[17.0, 13.0], [5.0, 5.0]]])
        got = pp.quadratic_offsets(torch.from_numpy(fine)[None], pts, 2)[0].numpy()
        d = np.arange(-2, 3)
        dy, dx = [v.ravel().astype(np.float64) for v in np.meshgrid(d, d, indexing='ij')]
        a = np.stack([np.ones_like(dx), dx, dy, dx * dx, dx * dy, dy * dy], 1)
        c = np.linalg.lstsq(a, fine[13 + dy.astype(int), 17 + dx.astype(int)], rcond=None)[0]
        hess = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
        ref = np.clip(-np.linalg.solve(hess, c[1:3]), -2, 2)
        np.testing.assert_allclose(got[0], ref, atol=1e-3)
        if tol is not None:
            np.testing.assert_allclose(got[0] + [17, 13], centre, atol=tol)
        # (5, 5) lies far down the slope of the same bowl: its vertex is clamped to 2 px.
        np.testing.assert_allclose(np.abs(got[1]), [2, 2], atol=1e-6)
    flat = torch.zeros(1, 10, 10)
    assert torch.equal(pp.quadratic_offsets(flat, torch.tensor([[[5.0, 5.0]]]), 2),
                       torch.zeros(1, 1, 2))                 # no peak: no move


def test_detector_subpixel_window_five_moves_points_within_two_pixels():
    img = textured(64, 80, 3)
    det = ElfDetector(small_config(subpixel=True))
    three = det.detect([img])[0]
    det.update(subpixel_window=5)
    five = det.detect([img])[0]
    assert len(three) == len(five) > 10
    # Same maxima, refined differently: each point within 2 px + 0.5 px of its parabola twin.
    dist = np.abs(five.keypoints[:, None] - three.keypoints[None]).max(-1).min(1)
    assert np.all(dist <= 2.5) and np.mean(dist > 1e-4) > 0.5
    with pytest.raises(ConfigError, match='subpixel_window'):
        det.update(subpixel_window=4)
