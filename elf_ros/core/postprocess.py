"""
ELF post-processing on the device, batched: blur, Kapur threshold, NMS, border, top-k, sub-pixel.

Every function takes a batch (B, H, W) and runs without Python loops over pixels or keypoints,
so the whole chain stays on the GPU when there is one; on the CPU the blurs and window maxima of
float maps are OpenCV's (SIMD filters, 3-5x faster there than torch's elementwise passes; the
same values within float rounding). Values follow the official code: the
saliency is quantised to 0..255, blurs round back to integers (OpenCV blurs uint8 images),
Kapur picks the first maximum of the summed entropies, NMS keeps SuperPoint's greedy semantics.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.stages import Clock, no_clock

HIST_COPIES = 64
# OpenCV's fixed kernels for sigma <= 0 and sizes up to 7 (binomial-like).
_SMALL_GAUSSIAN = {1: (1.0,), 3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                   7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}


def gaussian_kernel1d(size: int, sigma: float, device: torch.device | str = 'cpu'
                      ) -> torch.Tensor:
    """OpenCV's getGaussianKernel: normalised; sigma 0 uses its fixed tables or size rule."""
    if sigma <= 0 and size in _SMALL_GAUSSIAN:
        k = torch.tensor(_SMALL_GAUSSIAN[size], dtype=torch.float64)
    else:
        if sigma <= 0:
            sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
        x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        k = torch.exp(-x * x / (2 * sigma * sigma))
    return (k / k.sum()).to(device=device, dtype=torch.float32)


def gaussian_taps(sigma: float, device: torch.device | str = 'cpu') -> torch.Tensor | None:
    """Return a normalised Gaussian of ``sigma`` over +-ceil(3 sigma) taps; None for sigma 0."""
    if sigma <= 0:
        return None
    return gaussian_kernel1d(2 * math.ceil(3 * sigma) + 1, sigma, device)


def blur_images(x: torch.Tensor, sigma: float, kernel: torch.Tensor) -> torch.Tensor:
    """
    Blur every channel of (B, C, H, W) by a Gaussian of ``sigma`` (``kernel``: its taps).

    Reflect-101 border. On the CPU one ``cv2.GaussianBlur`` per image on its interleaved
    (H, W, C) pixels (no per-channel copies; about 1 ms at 640x480x3 on one thread, half or less of
    ``sepFilter2D``'s time for the same values); elsewhere :func:`gaussian_blur` on the B*C maps.
    The result keeps the input's memory format on the CPU.
    """
    b, c, h, w = x.shape
    size = kernel.numel()
    if x.device.type == 'cpu' and x.dtype == torch.float32 and c <= 4 \
            and min(h, w) > size // 2 and not x.requires_grad:
        out = [torch.from_numpy(cv2.GaussianBlur(np.ascontiguousarray(m.numpy()), (size, size),
                                                 sigma, borderType=cv2.BORDER_REFLECT_101)
                                .reshape(h, w, c))
               for m in x.permute(0, 2, 3, 1)]
        return (out[0].unsqueeze(0) if b == 1 else torch.stack(out)).permute(0, 3, 1, 2)
    return gaussian_blur(x.reshape(b * c, h, w), kernel).view(b, c, h, w)


def gaussian_blur(img: torch.Tensor, kernel: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """
    Separable blur of (B, H, W) with OpenCV's default border (reflect-101), times ``scale``.

    On the GPU two 1-D convolutions; on the CPU OpenCV's ``sepFilter2D`` per image (float
    maps; about 5x faster than torch there); elsewhere a sum of shifted slices (about 10x
    faster than a single-channel convolution off the GPU). All equal within float rounding.
    ``scale`` rides on the horizontal taps: no pass of its own.
    """
    k = kernel.numel()
    if k == 1:
        return img * scale if scale != 1.0 else img
    pad = k // 2
    if _opencv_map(img) and min(img.shape[-2:]) > pad:
        taps = kernel.to(torch.float64).numpy()
        return _per_image(img, lambda m: cv2.sepFilter2D(m, -1, taps * scale, taps,
                                                          borderType=cv2.BORDER_REFLECT_101))
    x = img.unsqueeze(1)
    if min(x.shape[-2:]) <= pad:
        x = F.pad(x, (pad, pad, pad, pad), mode='replicate')
    else:
        x = F.pad(x, (pad, pad, pad, pad), mode='reflect')
    if not x.is_cuda:
        return _shifted_sum(_shifted_sum(x.squeeze(1), kernel * scale, -1), kernel, -2)
    x = F.conv2d(x, (kernel * scale).view(1, 1, 1, k))
    x = F.conv2d(x, kernel.view(1, 1, k, 1))
    return x.squeeze(1)


def _opencv_map(x: torch.Tensor) -> bool:
    """Whether (B, H, W) ``x`` takes the OpenCV path: a float32/64 map on the CPU."""
    return x.device.type == 'cpu' and x.dtype in (torch.float32, torch.float64) \
        and x.dim() == 3 and not x.requires_grad


def _per_image(x: torch.Tensor, op) -> torch.Tensor:  # noqa: ANN001 - numpy -> numpy
    """Apply a 2-D numpy operation to each image of a CPU batch (B, H, W) (no copy in)."""
    if x.shape[0] == 0:
        return x.clone()
    out = [torch.from_numpy(np.ascontiguousarray(op(np.ascontiguousarray(m.numpy()))))
           for m in x]
    return out[0].unsqueeze(0) if len(out) == 1 else torch.stack(out)


def _shifted_sum(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlate x with a (host) kernel along ``dim`` (valid part only), as weighted slices."""
    weights = kernel.tolist()
    n = x.shape[dim] - len(weights) + 1
    out = x.narrow(dim, 0, n) * weights[0]
    for i, wgt in enumerate(weights[1:], start=1):
        out.add_(x.narrow(dim, i, n), alpha=wgt)        # in place: no temporary per tap
    return out


def blur_uint8(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Blur a 0..255 integer-valued map and round back to integers, like cv2 on uint8."""
    return torch.round(gaussian_blur(img, kernel)).clamp_(0, 255)


def quantised_blur(sal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """
    floor(sal * 255) blurred and rounded back to 0..255: (B, H, W) in [0, 1] -> (B, H, W).

    The official code's 8-bit map and blur. On the CPU the map stays uint8 and OpenCV's
    ``sepFilter2D`` blurs it (in float, rounded to nearest: the same values as
    :func:`blur_uint8`, a quarter of the memory traffic); elsewhere a float map of integer
    values (:func:`blur_uint8`).
    """
    k = kernel.numel()
    if _opencv_map(sal) and min(sal.shape[-2:]) > k // 2:
        u8 = (sal * 255.0).clamp_(0, 255).to(torch.uint8)    # truncation: floor, as >= 0
        if k == 1:
            return u8
        taps = kernel.to(torch.float64).numpy()
        return _per_image(u8, lambda m: cv2.sepFilter2D(m, cv2.CV_8U, taps, taps,
                                                         borderType=cv2.BORDER_REFLECT_101))
    return blur_uint8(torch.floor(sal * 255.0), kernel)


def histogram256(img: torch.Tensor) -> torch.Tensor:
    """
    Per-image 256-bin histogram of an integer-valued (B, H, W) map, on its device.

    On a GPU a scatter-add into a fixed-size buffer (unlike bincount it never syncs with the
    host, so it can be captured in a CUDA graph); elsewhere bincount of uint8 values, about 15x
    faster on a CPU (5 ms -> 0.3 ms for 640x480: the largest post-processing stage it was).
    """
    b, n = img.shape[0], img[0].numel()
    if not img.is_cuda:
        u8 = img.reshape(b, n).to(torch.uint8)
        return torch.stack([torch.bincount(row, minlength=256) for row in u8])
    copies = HIST_COPIES if img.is_cuda else 1     # spread GPU atomics over sub-histograms
    sub = torch.arange(n, device=img.device) % copies
    base = torch.arange(b, device=img.device).view(b, 1) * copies
    idx = img.reshape(b, n).long() + 256 * (base + sub)
    hist = torch.zeros(b * copies * 256, dtype=torch.int64, device=img.device)
    hist.index_add_(0, idx.reshape(-1), torch.ones_like(idx.reshape(-1)))
    return hist.view(b, copies, 256).sum(dim=1)


def kapur_threshold(hist: torch.Tensor) -> torch.Tensor:
    """
    Kapur's maximum-entropy threshold per histogram row (B, 256) -> (B,) long.

    For each t, background is bins 0..t and foreground t+1..255; each entropy is normalised by
    its own mass; thresholds with an empty side are invalid; the first strict maximum wins:
    H_b(t) = log P_t - C_t / P_t, where C_t = sum_{i<=t} p_i log p_i, and symmetrically for the
    foreground. On a GPU vectorised over t (no host sync); on the CPU one pass over the 256
    bins in Python (0.9 ms right after the network, whose run leaves torch's code cold: the
    twenty small tensor operations of the vectorised form took 3.1 ms there; equal results).
    """
    if hist.device.type != 'cpu':
        return _kapur_vectorised(hist)
    return torch.tensor([_kapur_row(row) for row in hist.tolist()], dtype=torch.long)


def _kapur_row(counts: list[int]) -> int:
    """:func:`kapur_threshold` of one histogram, sequentially (float64, the same formula)."""
    total = max(sum(counts), 1)
    p = [c / total for c in counts]
    plogp = [q * math.log(q) if q > 0 else 0.0 for q in p]
    c_all = sum(plogp)
    best, arg, mass, c = -math.inf, 0, 0.0, 0.0
    for t, (q, ql) in enumerate(zip(p, plogp, strict=True)):
        mass += q
        c += ql
        fore = 1 - mass
        if mass > _KAPUR_EPS and fore > _KAPUR_EPS:
            total_entropy = math.log(mass) - c / mass + math.log(fore) - (c_all - c) / fore
            if total_entropy > best:
                best, arg = total_entropy, t
    return arg


_KAPUR_EPS = 1e-12


def _kapur_vectorised(hist: torch.Tensor) -> torch.Tensor:
    """:func:`kapur_threshold` for all t at once with cumulative sums (sync-free, any device)."""
    dtype = torch.float64 if hist.device.type in ('cpu', 'cuda') else torch.float32
    p = hist.to(dtype)
    p = p / p.sum(dim=1, keepdim=True).clamp_min(1)
    plogp = torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))
    mass = torch.cumsum(p, dim=1)
    c = torch.cumsum(plogp, dim=1)
    back = mass
    fore = 1 - mass
    eps = _KAPUR_EPS
    valid = (back > eps) & (fore > eps)
    hb = torch.log(back.clamp_min(eps)) - c / back.clamp_min(eps)
    hf = torch.log(fore.clamp_min(eps)) - (c[:, -1:] - c) / fore.clamp_min(eps)
    total = torch.where(valid, hb + hf, torch.full_like(hb, -math.inf))
    return torch.argmax(total, dim=1)


def _sliding_max(x: torch.Tensor, radius: int, dim: int, fill: float) -> torch.Tensor:
    """
    Max over a centred window of 2r+1 along ``dim`` by doubling: O(log r) passes, any dtype.

    After padding with ``fill``, m holds maxima of w consecutive values; doubling w until it
    reaches half the window and one last overlapping max gives the exact window maximum.
    """
    k = 2 * radius + 1
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [radius, radius]
    m = F.pad(x, pad, value=fill)
    w = 1
    while 2 * w <= k:
        n = m.shape[dim]
        m = torch.maximum(m.narrow(dim, 0, n - w), m.narrow(dim, w, n - w))
        w *= 2
    n = x.shape[dim]
    return torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, k - w, n))


def _max_window(x: torch.Tensor, radius: int, fill: float = -1.0) -> torch.Tensor:
    """
    Max over a (2r+1)^2 square window of (B, H, W), separably.

    On the GPU one max-pool kernel per axis is cheapest (few kernel launches); on the CPU a
    float map goes to OpenCV's dilation (about 3x faster than the doubling), an integer one
    (the NMS keys) to the O(log r) doubling, which beats max-pool's O(r) loop per pixel.
    """
    k = 2 * radius + 1
    if _opencv_map(x):            # OpenCV's dilation: a separable running max, SIMD
        square = np.ones((k, k), np.uint8)
        return _per_image(x, lambda m: cv2.dilate(m, square, borderType=cv2.BORDER_CONSTANT,
                                                  borderValue=fill))
    if x.is_cuda:
        y = x.unsqueeze(1) if x.is_floating_point() else x.unsqueeze(1).to(torch.float16)
        y = F.max_pool2d(y, (1, k), stride=1, padding=(0, radius))
        y = F.max_pool2d(y, (k, 1), stride=1, padding=(radius, 0))
        return y.squeeze(1).to(x.dtype)
    return _sliding_max(_sliding_max(x, radius, -1, fill), radius, -2, fill)


def nms_keys(score: torch.Tensor) -> torch.Tensor:
    """
    Return unique ordering keys (B, H*W): higher score first, ties in raster order.

    For integer-valued scores (the 0..255 maps NMS runs on) on the CPU the key is int32
    score * n + rank whenever it fits (up to about 8M pixels per image): half the memory
    traffic of float64 in every window max of the NMS rounds, same order. Elsewhere float64
    (CUDA's max-pool has no integer kernel), exact for integer scores as well.
    """
    b, h, w = score.shape
    n = h * w
    dtype = torch.float64           # on CUDA no check at all: no host sync inside a CUDA graph
    if not score.is_cuda and score.numel() > 0 and bool(torch.equal(score, score.floor())) \
            and -1 <= float(score.min()) and float(score.max()) < 2**31 / n - 1:
        dtype = torch.int32
    rank = torch.arange(n - 1, -1, -1, device=score.device, dtype=dtype)
    return score.to(dtype).reshape(b, n) * n + rank


def nms(score: torch.Tensor, candidates: torch.Tensor, radius: int) -> torch.Tensor:
    """
    Greedy NMS (SuperPoint semantics) by iterated window maxima; returns the kept mask.

    Sequential definition: visit candidates by descending score (ties in raster order); keep a
    point unless an already kept point lies within its (2r+1)^2 window. In parallel: a still
    undecided point whose key is the maximum over undecided and kept points in its window is
    kept (no earlier point can suppress it); its undecided neighbours are then suppressed.
    Each round decides at least the best undecided point, so this equals the greedy result.
    """
    kept, _unfinished = nms_rounds(score, candidates, radius, None)
    return kept


def nms_rounds(score: torch.Tensor, candidates: torch.Tensor, radius: int, rounds: int | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Run :func:`nms` for a fixed number of rounds (None = until done; syncs every round).

    Returns (kept, unfinished): ``unfinished`` is a 0-d bool tensor, True when undecided points
    remain. A fixed count never syncs with the host, so it can live in a CUDA graph; the caller
    checks ``unfinished`` with the results and falls back to the exact loop when needed.
    """
    b, h, w = score.shape
    if radius == 0:
        return candidates.clone(), torch.zeros((), dtype=torch.bool, device=score.device)
    key = nms_keys(score).view(b, h, w)
    neg = torch.full_like(key, -1)
    undecided = candidates.clone()
    kept = torch.zeros_like(candidates)
    done = 0
    while rounds is None or done < rounds:
        live = torch.where(undecided | kept, key, neg)
        new = undecided & (key == _max_window(live, radius))
        kept |= new
        undecided &= ~(_max_window(new.to(torch.uint8), radius, 0) > 0)
        done += 1
        if rounds is None and not bool(undecided.any()):
            break
    return kept, undecided.any()


def max_kept_points(height: int, width: int, border: int, nms_radius: int) -> int:
    """
    Most points NMS can keep inside the border: kept points are more than r apart (Chebyshev).

    Sizing the result by this rather than by h*w keeps ``max_keypoints: 0`` ("all") from
    sampling and copying a descriptor for every pixel.
    """
    step = nms_radius + 1
    inner_h, inner_w = max(height - 2 * border, 1), max(width - 2 * border, 1)
    return math.ceil(inner_h / step) * math.ceil(inner_w / step)


def select_topk(score: torch.Tensor, kept: torch.Tensor, border: int, k: int,
                nms_radius: int = 0, exact_ties: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Drop kept points within ``border`` of the edge, then the top ``k`` by score.

    Returns (xy (B, K, 2) float32 network pixels, score (B, K), count (B,)); rows past count are
    padding, K <= what NMS with ``nms_radius`` can keep. Order: score descending, ties in raster
    order (matches the NMS order). ``exact_ties=False`` ranks by the score alone: for float
    scores (ties practically absent), where the raster tie-break key could reorder close scores.
    """
    b, h, w = score.shape
    mask = kept.clone()
    if border > 0:
        mask[:, :border] = False
        mask[:, h - border:] = False
        mask[:, :, :border] = False
        mask[:, :, w - border:] = False
    # Float scores keep their own dtype: a float32 top-k over the map is half the work.
    order = nms_keys(score) if exact_ties else score.reshape(b, -1)
    kk = min(h * w, max_kept_points(h, w, border, nms_radius))
    kk = kk if k <= 0 else min(k, kk)
    if score.is_cuda:
        return _dense_topk(score, mask, order, kk, exact_ties)
    return _sparse_topk(score, mask, order, kk)


def _dense_topk(score: torch.Tensor, mask: torch.Tensor, order: torch.Tensor, kk: int,
                exact_ties: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`select_topk` on a GPU: one top-k over the whole map, no host sync (CUDA graphs)."""
    b, h, w = score.shape
    if exact_ties:
        fill = torch.full_like(order, -1)
    else:   # distinct fill values below any score: top-k slows 10x on masses of ties
        fill = torch.arange(h * w, device=score.device, dtype=order.dtype) * (-1.0 / (h * w)) - 1
    key = torch.where(mask.view(b, -1), order, fill)
    top, idx = torch.topk(key, kk, dim=1, sorted=True)
    count = mask.view(b, -1).sum(dim=1).clamp(max=kk)
    xy = torch.stack((idx % w, idx // w), dim=-1).to(torch.float32)
    return xy, torch.gather(score.reshape(b, -1), 1, idx), count


def _sparse_topk(score: torch.Tensor, mask: torch.Tensor, order: torch.Tensor, kk: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    :func:`select_topk` off the GPU: top-k among the kept points only (their indices first).

    The same rows as the dense top-k (a few thousand kept points instead of the whole map: ~4x
    faster on a CPU, where the host sync of ``nonzero`` costs nothing); padding rows are zero.
    """
    b, h, w = score.shape
    xy = torch.zeros(b, kk, 2, dtype=torch.float32, device=score.device)
    out = torch.zeros(b, kk, dtype=score.dtype, device=score.device)
    count = torch.zeros(b, dtype=torch.int64, device=score.device)
    flat = score.reshape(b, -1)
    for i in range(b):
        idx = mask[i].reshape(-1).nonzero().squeeze(1)
        n = min(kk, idx.numel())
        sel = idx[torch.topk(order[i, idx], n, sorted=True).indices]
        xy[i, :n, 0], xy[i, :n, 1] = sel % w, sel // w
        out[i, :n] = flat[i, sel]
        count[i] = n
    return xy, out, count


def sample_descriptors(feat: torch.Tensor, xy: torch.Tensor, width: int, height: int,
                       centre: torch.Tensor | None = None) -> torch.Tensor:
    """
    Bilinear descriptors at network-pixel keypoints (align_corners=True), L2-normalised.

    Pixel 0 maps to the first feature cell and pixel W-1 to the last, as in the official code.
    ``centre`` (B, C), when given, is subtracted before the normalisation (bilinear weights sum
    to one, so this equals sampling the map minus ``centre``).
    """
    gx = xy[..., 0] * (2.0 / max(width - 1, 1)) - 1
    gy = xy[..., 1] * (2.0 / max(height - 1, 1)) - 1
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(1).to(feat.dtype)      # (B, 1, K, 2)
    d = F.grid_sample(feat, grid, mode='bilinear', align_corners=True)    # (B, C, 1, K)
    d = d.squeeze(2).transpose(1, 2).to(torch.float32)
    if centre is not None:
        d = d - centre.unsqueeze(1)
    return F.normalize(d, p=2, dim=-1)


def parabola_offsets(fine: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """
    Sub-pixel offsets (B, K, 2) of integer points xy (B, K, 2) on a float map (B, H, W).

    Along each axis, the parabola through the point and its two neighbours (an edge pixel
    stands in for its missing neighbour) has its vertex at d = (f[-1] - f[+1]) /
    (2 (f[-1] - 2 f[0] + f[+1])); d is clamped to +-0.5 px and is 0 where the curvature is not
    negative (no maximum along that axis). Five gathers per point: no full-map work, no sync.
    """
    b, h, w = fine.shape
    flat = fine.reshape(b, -1)
    x, y = xy[..., 0].long(), xy[..., 1].long()

    def at(xx: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
        return torch.gather(flat, 1, yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1))

    centre = at(x, y)

    def vertex(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curv = before - 2 * centre + after
        peaked = curv < 0
        d = (before - after) / torch.where(peaked, 2 * curv, torch.ones_like(curv))
        return torch.where(peaked, d, torch.zeros_like(d)).clamp(-0.5, 0.5)

    return torch.stack((vertex(at(x - 1, y), at(x + 1, y)), vertex(at(x, y - 1), at(x, y + 1))),
                       dim=-1)


def threshold_nms(score: torch.Tensor, thr: torch.Tensor, radius: int) -> torch.Tensor:
    """
    One-pass NMS of a float map (B, H, W) above ``thr`` (B,), equal maxima to the first.

    Keeps the points strictly above the threshold that are the maximum of their (2r+1)^2
    window and the first in raster order of the equal maxima there.

    A subset of greedy NMS's points (a point whose window holds a stronger point is dropped
    even when greedy NMS would have suppressed that stronger point first): one window max, no
    rounds. A point above the threshold is the maximum of those above it in its window exactly
    when it is the maximum of all points there (every other point is at most the threshold), so
    the map needs no masking. Kept points within r of each other are equal maxima: flat or
    periodic patches (a saturated sky: 40 % of the fine preset's keypoints on a KITTI frame)
    where every peak would be kept; the raster-first rule keeps one per patch (when its peaks
    are closer than r), the same on every device. The CPU looks for equal kept scores
    first (a sort of the few kept points) and runs that second window max only when it finds
    some; the GPU always runs it (no host sync).
    """
    above = score > thr.view(-1, 1, 1)
    if radius == 0:
        return above
    kept = above & (score == _max_window(score, radius, -math.inf))
    if score.is_cuda or _equal_values(score[kept]):
        kept = _raster_first(kept, radius)
    return kept


def _equal_values(values: torch.Tensor) -> bool:
    """Whether a 1-D tensor holds a value twice (host sync)."""
    return values.numel() > 1 and torch.unique(values).numel() < values.numel()


def _raster_first(kept: torch.Tensor, radius: int) -> torch.Tensor:
    """Keep the points of a mask (B, H, W) with no point earlier in raster order in reach."""
    _, h, w = kept.shape
    n = h * w
    dtype = torch.float32 if n <= 2 ** 24 else torch.float64      # ranks exact in the mantissa
    earlier_first = torch.arange(n, 0, -1, dtype=dtype, device=kept.device).view(1, h, w)
    key = torch.where(kept, earlier_first, torch.zeros((), dtype=dtype, device=kept.device))
    return kept & (key == _max_window(key, radius, 0.0))


@functools.lru_cache(maxsize=16)
def _quadratic_solver(half: int, device: str, dtype: torch.dtype
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Least-squares solver (6, n) of the quadratic over a (2h+1)^2 window and its offsets.

    Computed once on the CPU and kept on the device (a CUDA graph's warm-up fills the cache, so
    the capture only reads it).
    """
    d = torch.arange(-half, half + 1)
    dy, dx = (v.reshape(-1) for v in torch.meshgrid(d, d, indexing='ij'))
    fx, fy = dx.to(torch.float64), dy.to(torch.float64)
    design = torch.stack((torch.ones_like(fx), fx, fy, fx * fx, fx * fy, fy * fy), dim=1)
    solve = torch.linalg.pinv(design).to(dtype)
    return solve.to(device), dx.to(device), dy.to(device)


def quadratic_offsets(fine: torch.Tensor, xy: torch.Tensor, half: int) -> torch.Tensor:
    """
    Sub-pixel offsets (B, K, 2) from a 2-D quadratic fitted to the (2h+1)^2 window around xy.

    Least squares of f(dx, dy) = c0 + c1 dx + c2 dy + c3 dx^2 + c4 dx dy + c5 dy^2 over the
    window (edge pixels repeated at the map's border): one fixed 6 x n pseudo-inverse for all
    points; the vertex -H^-1 g, clamped to +-half px, 0 where the fit is not a maximum.
    """
    b, h, w = fine.shape
    solve, dx, dy = _quadratic_solver(half, str(fine.device), fine.dtype)  # (6, n), (n,), (n,)
    x = xy[..., 0].long().unsqueeze(-1) + dx
    y = xy[..., 1].long().unsqueeze(-1) + dy
    idx = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)).reshape(b, -1)
    vals = torch.gather(fine.reshape(b, -1), 1, idx).view(*x.shape)        # (B, K, n)
    c = vals @ solve.T                                                     # (B, K, 6)
    gx, gy, hxx, hxy, hyy = c[..., 1], c[..., 2], 2 * c[..., 3], c[..., 4], 2 * c[..., 5]
    det = hxx * hyy - hxy * hxy
    peak = (det > 0) & (hxx < 0)
    safe = torch.where(peak, det, torch.ones_like(det))
    ox = torch.where(peak, (hxy * gy - hyy * gx) / safe, torch.zeros_like(det))
    oy = torch.where(peak, (hxy * gx - hxx * gy) / safe, torch.zeros_like(det))
    return torch.stack((ox, oy), dim=-1).clamp(-float(half), float(half))


def keypoints_from_saliency(sal: torch.Tensor, k_threshold: torch.Tensor, k_noise: torch.Tensor,
                            *, threshold_scale: float = 1.0, nms_radius: int = 10,
                            border: int = 10, max_keypoints: int = 500, subpixel: bool = False,
                            nms_rounds_max: int | None = None, nms_mode: str = 'greedy',
                            cell: int = 1, subpixel_window: int = 3, clock: Clock = no_clock
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                       torch.Tensor]:
    """
    ELF's post-processing of a saliency batch (B, H, W) in [0, 1] to ranked keypoints.

    As in the paper (``nms_mode='greedy'``): quantise to 0..255, blur, Kapur's threshold (scaled
    by ``threshold_scale``; 1 = the paper, 0 = none), noise blur clamped below at the threshold,
    greedy NMS of the points strictly above it, border, top-k. With ``subpixel`` the kept maxima
    (still chosen on the quantised map) are ranked and scored by the float saliency under the
    same noise blur, without quantisation, and moved by a parabola fit of it.

    ``nms_mode='float'`` (needs ``subpixel``): one max-pool NMS pass (:func:`threshold_nms`) on the
    float noise-blurred map itself; no 8-bit noise blur, no NMS rounds. Kapur's threshold (when
    ``threshold_scale`` > 0) is computed as above and compared with the float map. With
    ``cell`` > 1 (a map finer than the network's, ``saliency_upsample``), NMS and top-k run on
    the cell x cell max-pooled map instead (radius and border in cells), each winner placed at
    its cell's maximum pixel: post-processing at the network's scale, the positions fine.

    ``subpixel_window`` (odd) 3 = the 1-D parabolas through each axis' 3 pixels; 5, 7, ... = a
    2-D quadratic least-squares fit over that window (:func:`quadratic_offsets`).

    Returns (xy (B, K, 2) network pixels, score (B, K) in [0, 1], count (B,), threshold (B,)
    in [0, 1], NMS-unfinished flag). No host sync unless ``nms_rounds_max`` is None.
    """
    if nms_mode not in ('greedy', 'float'):
        raise ValueError(f"nms_mode: allowed 'greedy', 'float'; got {nms_mode!r}")
    if nms_mode == 'float' and not subpixel:
        raise ValueError("nms_mode 'float' needs subpixel (it ranks by the float map)")
    b = sal.shape[0]
    with clock('threshold'):
        if threshold_scale > 0:
            thr = kapur_threshold(histogram256(quantised_blur(sal, k_threshold))
                                  ).to(torch.float32)
            if threshold_scale != 1.0:
                thr = thr * threshold_scale
        else:                     # scale 0: Kapur's value is multiplied away, skip computing it
            thr = torch.zeros(b, dtype=torch.float32, device=sal.device)
    unfinished = torch.zeros((), dtype=torch.bool, device=sal.device)
    if nms_mode == 'greedy':
        with clock('blur'):
            den = torch.maximum(quantised_blur(sal, k_noise).to(torch.float32),
                                thr.view(-1, 1, 1))
        with clock('NMS'):
            kept, unfinished = nms_rounds(den, den > thr.view(-1, 1, 1), nms_radius,
                                          nms_rounds_max)
        if not subpixel:
            with clock('top-k'):
                xy, score, count = select_topk(den, kept, border, max_keypoints, nms_radius)
            return xy, score / 255.0, count, thr / 255.0, unfinished
    with clock('blur'):
        fine = gaussian_blur(sal, k_noise, scale=255.0)
    if nms_mode == 'float' and cell > 1:
        xy, score, count = _pooled_float_nms(fine, thr, cell, nms_radius, border, max_keypoints,
                                             clock)
    else:
        if nms_mode == 'float':
            with clock('NMS'):
                kept = threshold_nms(fine, thr, nms_radius)
        with clock('top-k'):
            xy, score, count = select_topk(fine, kept, border, max_keypoints, nms_radius,
                                           exact_ties=False)
    with clock('sub-pixel'):
        offset = (parabola_offsets(fine, xy) if subpixel_window <= 3
                  else quadratic_offsets(fine, xy, subpixel_window // 2))
    return xy + offset, (score / 255.0).clamp(0, 1), count, thr / 255.0, unfinished


def cell_max(fine: torch.Tensor, cell: int) -> torch.Tensor:
    """
    Maximum of each cell x cell block of (B, H, W) -> (B, ceil(H/cell), ceil(W/cell)).

    cell^2 - 1 elementwise maxima of strided views (a partial last block is padded with -inf):
    on the CPU about twice as fast as max_pool2d, whose indices are not needed for every cell.
    """
    b, h, w = fine.shape
    ph, pw = -h % cell, -w % cell
    f = F.pad(fine, (0, pw, 0, ph), value=-math.inf) if ph or pw else fine
    out = f[:, 0::cell, 0::cell]
    for dy in range(cell):
        for dx in range(cell):
            if dy or dx:
                out = torch.maximum(out, f[:, dy::cell, dx::cell])
    return out


def _pooled_float_nms(fine: torch.Tensor, thr: torch.Tensor, cell: int, nms_radius: int,
                      border: int, max_keypoints: int, clock: Clock
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Max-pool NMS and top-k on the cell-pooled map (B, H, W) -> fine xy (B, K, 2), score, count.

    Each cell keeps its maximum; NMS (radius nms_radius / cell cells) and top-k run on the
    pooled map, cell^2 times fewer pixels; only the selected cells look up which of their
    pixels holds the maximum (the first in raster order on a tie), and that is the keypoint.
    """
    b, h, w = fine.shape
    with clock('NMS'):
        pooled = cell_max(fine, cell)
        radius = round(nms_radius / cell)
        kept = threshold_nms(pooled, thr, radius)
    with clock('top-k'):
        xy_c, score, count = select_topk(pooled, kept, math.ceil(border / cell), max_keypoints,
                                         radius, exact_ties=False)
        d = torch.arange(cell, device=fine.device)
        dy, dx = (v.reshape(-1) for v in torch.meshgrid(d, d, indexing='ij'))
        x = (xy_c[..., 0].long() * cell).unsqueeze(-1) + dx          # (B, K, cell^2)
        y = (xy_c[..., 1].long() * cell).unsqueeze(-1) + dy
        inside = (x < w) & (y < h)
        vals = torch.gather(fine.reshape(b, -1), 1,
                            (y.clamp(max=h - 1) * w + x.clamp(max=w - 1)).reshape(b, -1))
        vals = torch.where(inside, vals.view_as(x), torch.full_like(x, -1, dtype=fine.dtype))
        best = vals.argmax(dim=-1, keepdim=True)
        xy = torch.cat((x.gather(-1, best), y.gather(-1, best)), dim=-1).to(torch.float32)
    return xy, score, count


def map_means(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Each (B, C, h, w) description map's per-image channel mean, (B, C) float32."""
    return tuple(f.float().mean(dim=(2, 3)) for f in feats)


def sample_descriptor_maps(feats: Sequence[torch.Tensor], xy: torch.Tensor, width: int,
                           height: int, centres: Sequence[torch.Tensor] | None = None
                           ) -> torch.Tensor:
    """
    Descriptors from several layers: each sampled and L2-normalised, concatenated, renormalised.

    Each layer then weighs the same in a descriptor distance, whatever its channel count or scale.
    ``centres`` (one (B, C) per layer, e.g. :func:`map_means`) are subtracted before each
    layer's normalisation.
    """
    cs = list(centres) if centres is not None else [None] * len(feats)
    parts = [sample_descriptors(f, xy, width, height, c) for f, c in zip(feats, cs, strict=True)]
    return parts[0] if len(parts) == 1 else F.normalize(torch.cat(parts, dim=-1), p=2, dim=-1)
