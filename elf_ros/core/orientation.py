"""
Per-keypoint orientation and orientation-normalised ELF descriptors, batched on the device.

Why: a CNN feature map is not rotation invariant, so upright ELF descriptors collapse past
about 30 degrees of in-plane rotation. Here each keypoint gets an angle (ORB's intensity
centroid), the image is rotated into ``K`` copies (one batch per copy shape through the same
network), and each keypoint's descriptor is the blend of the two copies whose rotation
brackets its angle. Blending (not snapping to the nearest copy) keeps the descriptor
continuous in the angle: a keypoint near a bin boundary gets nearly the same descriptor in
both images even when its two angle estimates fall into different bins.

Angles follow OpenCV's KeyPoint: degrees in [0, 360), measured from the +x axis towards +y
(image y points down, so clockwise on screen). A copy at phi degrees holds the image turned by
-phi, so a structure at angle theta appears at theta - phi in it.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.postprocess import map_means, sample_descriptor_maps

# Normalised network input (B, 3, H, W) -> its description maps, gradient-free.
Describer = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def torch_describer(network: nn.Module) -> Describer:
    """Describe with a torch backbone (``network(x, None)``'s maps), without autograd."""
    def describe(x: torch.Tensor) -> Sequence[torch.Tensor]:
        with torch.no_grad():
            return network(x, None)[1]
    return describe

# Radius of the intensity-centroid disc in network pixels (ORB's 31x31 patch).
CENTROID_RADIUS = 15
NOT_ESTIMATED_ANGLE = -1.0   # OpenCV KeyPoint's default angle
NOT_ESTIMATED_SIZE = 0.0     # OpenCV KeyPoint's default size


def disc_offsets(radius: int, device: torch.device | str = 'cpu') -> torch.Tensor:
    """(P, 2) float32 [dx, dy] integer offsets of the disc dx^2 + dy^2 <= radius^2."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(r, r, indexing='ij')
    inside = dx * dx + dy * dy <= radius * radius
    return torch.stack((dx[inside], dy[inside]), dim=-1)


def _sample_points(img: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Bilinear values of (B, H, W) at pixel positions (B, M, 2) [x, y] -> (B, M); edges clamp."""
    h, w = img.shape[-2:]
    g = torch.stack(((pts[..., 0] + 0.5) * (2.0 / w) - 1, (pts[..., 1] + 0.5) * (2.0 / h) - 1),
                    dim=-1)
    out = F.grid_sample(img.unsqueeze(1), g.unsqueeze(1).to(img.dtype), mode='bilinear',
                        padding_mode='border', align_corners=False)
    return out[:, 0, 0]


def centroid_angles(gray: torch.Tensor, xy: torch.Tensor, radius: int = CENTROID_RADIUS
                    ) -> torch.Tensor:
    """
    ORB's intensity-centroid orientation of keypoints (B, N, 2) on images (B, H, W) -> (B, N).

    theta = atan2(m01, m10) over the disc of ``radius`` around each keypoint, in degrees
    [0, 360) (OpenCV's convention). Only the disc pixels of each keypoint are read.
    """
    b, n = xy.shape[:2]
    offs = disc_offsets(radius, gray.device)                       # (P, 2)
    pts = (xy.unsqueeze(2) + offs).reshape(b, -1, 2)               # (B, N*P, 2)
    vals = _sample_points(gray.float(), pts).view(b, n, -1)        # (B, N, P)
    m10 = (vals * offs[:, 0]).sum(-1)
    m01 = (vals * offs[:, 1]).sum(-1)
    return torch.rad2deg(torch.atan2(m01, m10)).remainder(360.0)


def copy_angles(rotations: int) -> list[float]:
    """Return the K copy rotations phi_k = k * 360 / K in degrees."""
    return [k * 360.0 / rotations for k in range(rotations)]


def _rotation(phi_deg: float) -> tuple[float, float]:
    """(cos, sin) of -phi, snapped to exact values at multiples of 90 degrees."""
    a = math.radians(-phi_deg)
    c, s = math.cos(a), math.sin(a)
    if abs(phi_deg / 90 - round(phi_deg / 90)) < 1e-9:
        c, s = float(round(c)), float(round(s))
    return c, s


def copy_geometry(height: int, width: int, phi_deg: float
                  ) -> tuple[tuple[int, int], tuple[float, float, float, float, float, float]]:
    """
    Size (h, w) of the copy turned by -phi that holds the whole image, and the map into it.

    The map is (a, b, tx, c, d, ty): p = [[a, b], [c, d]] @ s + t for a source pixel s.
    At multiples of 90 degrees t is whole, so the copy is an exact pixel permutation.
    """
    cos, sin = _rotation(phi_deg)
    a, b, c, d = cos, -sin, sin, cos
    xs = [a * x + b * y for x, y in ((0, 0), (width - 1, 0), (0, height - 1),
                                     (width - 1, height - 1))]
    ys = [c * x + d * y for x, y in ((0, 0), (width - 1, 0), (0, height - 1),
                                     (width - 1, height - 1))]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    out_w, out_h = int(math.ceil(span_x - 1e-6)) + 1, int(math.ceil(span_y - 1e-6)) + 1
    tx = ((out_w - 1) - span_x) / 2 - min(xs)
    ty = ((out_h - 1) - span_y) / 2 - min(ys)
    return (out_h, out_w), (a, b, tx, c, d, ty)


def rotated_copy(x: torch.Tensor, size: tuple[int, int],
                 affine: Sequence[float]) -> torch.Tensor:
    """
    Turn a batch (B, C, H, W) into a copy of ``size`` under ``affine`` (see copy_geometry).

    Pixels outside the source are 0 (for a normalised input: the mean colour).
    """
    a, b, tx, c, d, ty = affine
    h, w = x.shape[-2:]
    oh, ow = size
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det     # inverse of [[a, b], [c, d]]
    py, px = torch.meshgrid(torch.arange(oh, dtype=torch.float32, device=x.device),
                            torch.arange(ow, dtype=torch.float32, device=x.device), indexing='ij')
    sx = ia * (px - tx) + ib * (py - ty)
    sy = ic * (px - tx) + id_ * (py - ty)
    grid = torch.stack(((sx + 0.5) * (2.0 / w) - 1, (sy + 0.5) * (2.0 / h) - 1), dim=-1)
    grid = grid.unsqueeze(0).expand(x.shape[0], -1, -1, -1).to(x.dtype)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)


def map_points(xy: torch.Tensor, affine: Sequence[float]) -> torch.Tensor:
    """Keypoints (..., 2) in the source -> their positions in a copy."""
    a, b, tx, c, d, ty = affine
    x, y = xy[..., 0], xy[..., 1]
    return torch.stack((a * x + b * y + tx, c * x + d * y + ty), dim=-1)


def copy_descriptors(describe: Describer, x: torch.Tensor, upright_maps: Sequence[torch.Tensor],
                     xy: torch.Tensor, rotations: int, centre: bool = False) -> torch.Tensor:
    """
    Descriptors of every keypoint in each of the K copies -> (B, K, N, D), L2-normalised.

    ``x`` (B, 3, H, W) is the normalised network input, ``upright_maps`` the description maps
    the detection pass already computed for it (copy 0 reuses them). The other copies run
    through ``describe`` (:func:`torch_describer`, or the runtime's engine): on a GPU one
    batch per copy shape (at K = 8: 180; 90 and 270; the four diagonals); on a CPU one copy at
    a time (a batch of four diagonal canvases took twice as long as four single passes on one
    thread: it no longer fits the caches). ``centre`` (``DetectorConfig.descriptor_centering``)
    subtracts each layer's mean over all K copies' maps: the same set of copies, hence the same
    centre, whichever way the image is turned.
    """
    b = x.shape[0]
    h, w = x.shape[-2:]
    # Per copy: its description maps, the keypoints in its pixels, its (height, width).
    copies: list = [None] * rotations
    copies[0] = (list(upright_maps), xy, (h, w))
    groups: dict[tuple[int, int, int], list[tuple[int, tuple[float, ...]]]] = {}
    for k, phi in enumerate(copy_angles(rotations)[1:], start=1):
        size, affine = copy_geometry(h, w, phi)
        groups.setdefault((*size, k if not x.is_cuda else 0), []).append((k, affine))
    with torch.no_grad():
        for (height, width, _copy), members in groups.items():
            batch = torch.cat([rotated_copy(x, (height, width), aff) for _, aff in members])
            maps = describe(batch.contiguous(memory_format=torch.channels_last))
            for i, (k, aff) in enumerate(members):
                copies[k] = ([m[i * b:(i + 1) * b] for m in maps], map_points(xy, aff),
                             (height, width))
    centres = None
    if centre:
        means = [map_means(maps) for maps, _, _ in copies]
        centres = [torch.stack(layer).mean(dim=0) for layer in zip(*means, strict=True)]
    return torch.stack([sample_descriptor_maps(maps, pts, size[1], size[0], centres)
                        for maps, pts, size in copies], dim=1)


def blend_copies(descs: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """
    Blend (B, K, N, D) copy descriptors by angle (B, N) degrees -> (B, N, D), L2-normalised.

    Copies k0 = floor(theta / step) and k0 + 1 (mod K) bracket theta; their weights fall
    linearly with the angular distance, so the result is continuous in theta.
    """
    k = descs.shape[1]
    pos = angles.remainder(360.0) * (k / 360.0)
    lower = torch.floor(pos)
    frac = (pos - lower).unsqueeze(-1)
    k0 = lower.long().remainder(k)
    k1 = (k0 + 1).remainder(k)
    d = descs.shape[-1]

    def pick(idx: torch.Tensor) -> torch.Tensor:
        return descs.gather(1, idx.view(idx.shape[0], 1, -1, 1).expand(-1, 1, -1, d)).squeeze(1)

    return F.normalize((1 - frac) * pick(k0) + frac * pick(k1), p=2, dim=-1)


def oriented_descriptors(describe: Describer, x: torch.Tensor, gray: torch.Tensor,
                         upright_maps: Sequence[torch.Tensor], xy: torch.Tensor,
                         rotations: int, radius: int = CENTROID_RADIUS, centre: bool = False
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Angles (B, N) in degrees and orientation-normalised descriptors (B, N, D) of keypoints.

    ``gray`` (B, H, W) is the image the angles are measured on, ``x`` the normalised network
    input of the same size, ``xy`` (B, N, 2) keypoints in its pixels; ``centre`` as in
    :func:`copy_descriptors`.
    """
    angles = centroid_angles(gray, xy, radius)
    descs = copy_descriptors(describe, x, upright_maps, xy, rotations, centre)
    return angles, blend_copies(descs, angles)
