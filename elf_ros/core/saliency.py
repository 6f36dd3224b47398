"""
ELF saliency: the input gradient of 1/2 ||F||^2, |.|, mean over channels, / max.

The gradient is taken with ``torch.autograd.grad`` seeded with F itself (which *is* the gradient
of 1/2 ||F||^2 with respect to F). In float16/bfloat16 the seed is divided by the batch's max |F|
(:func:`seed_of`), which keeps the gradient away from overflow and, being one positive factor,
is undone exactly by the final division by each map's maximum; float32 needs no such guard and
skips it (on a CPU |F|, its maximum and the division over F cost 8 % of the offline default's
front end and 25 % of the fine pass's). Optional shift averaging runs sub-stride shifted copies
of the input in the same batch and averages their saliency, aligned back to the original frame.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.stages import Clock, no_clock

Offset = tuple[int, int]


def shift_offsets(count: int) -> list[Offset]:
    """
    Return the first ``count`` (dy, dx) one-pixel phase shifts: (0,0), (1,1), (0,1), (1,0), ...

    Stride-2 layers respond differently to even and odd pixels; the diagonal pair already
    balances the two phases of both axes on average, all four cancel them; beyond four, the
    phases of a stride-4 grid follow.
    """
    order = [(0, 0), (1, 1), (0, 1), (1, 0)]
    order += [(y, x) for y in range(4) for x in range(4) if (y, x) not in order]
    return order[:count]


def _as_offset(d: int | Offset) -> Offset:
    return (d, d) if isinstance(d, int) else d


def shift_image(x: torch.Tensor, d: int | Offset) -> torch.Tensor:
    """Move the content dy down and dx right (edge pixels repeated), same size."""
    dy, dx = _as_offset(d)
    if dy == dx == 0:
        return x
    h, w = x.shape[-2:]
    return F.pad(x, (dx, 0, dy, 0), mode='replicate')[..., :h, :w]


def unshift_map(s: torch.Tensor, d: int | Offset) -> torch.Tensor:
    """Inverse of :func:`shift_image` for a (B, H, W) map."""
    dy, dx = _as_offset(d)
    if dy == dx == 0:
        return s
    h, w = s.shape[-2:]
    cropped = s[..., dy:, dx:].unsqueeze(1)
    return F.pad(cropped, (0, dx, 0, dy), mode='replicate').squeeze(1)[..., :h, :w]


def normalise_max(s: torch.Tensor) -> torch.Tensor:
    """Divide each (H, W) map of a batch by its own maximum (all-zero maps stay zero)."""
    peak = s.amax(dim=(-2, -1), keepdim=True)
    return s / torch.where(peak > 0, peak, torch.ones_like(peak))


def seed_of(f: torch.Tensor) -> torch.Tensor:
    """
    Return the gradient's seed for feature maps F: F, divided by the batch's max |F| below fp32.

    One factor for the whole batch (all images, all shifted copies), so every saliency map is
    unchanged by it after its own division by its maximum.
    """
    if f.dtype == torch.float32 or f.dtype == torch.float64:
        return f
    peak = f.abs().amax()
    return f / torch.where(peak > 0, peak, torch.ones_like(peak))


def elf_saliency(net: nn.Module, x: torch.Tensor,
                 offsets: Sequence[int | Offset] = ((0, 0),), describe: bool = True,
                 clock: Clock = no_clock, suffix: str = ''
                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """
    Saliency (B, H, W) float32 in [0, 1] and the description maps of the unshifted input.

    ``net(x, desc_count)`` must return (F, D) in one forward pass; ``offsets`` are diagonal
    input shifts to average over (``((0, 0),)`` = the paper's plain saliency). With
    ``describe=False`` no description map is computed (empty batch): the detection tap alone.
    ``clock`` times the stages, named with ``suffix`` (e.g. ' (fine)').
    """
    b = x.shape[0]
    with clock('shift copies'):
        xs = shifted_batch(x, offsets).detach().requires_grad_(True)
    with torch.enable_grad():
        with clock('forward' + suffix):
            f, desc = net(xs, b if describe else 0)
        with clock('gradient' + suffix):
            (grad,) = torch.autograd.grad(f, xs, grad_outputs=seed_of(f.detach()))
    with clock('shift average'):
        s = saliency_from_gradient(grad, offsets)
    return s, desc


def shifted_batch(x: torch.Tensor, offsets: Sequence[int | Offset]) -> torch.Tensor:
    """(B, C, H, W) -> (B * len(offsets), C, H, W): the shifted copies, offset-major."""
    return torch.cat([shift_image(x, d) for d in offsets]) if len(offsets) > 1 else x


def saliency_from_gradient(grad: torch.Tensor, offsets: Sequence[int | Offset] = ((0, 0),)
                           ) -> torch.Tensor:
    """
    Input gradient of the shifted batch (B * len(offsets), C, H, W) -> saliency (B, H, W).

    |grad| averaged over channels, each shift's map moved back and averaged, then / max.
    """
    s = grad.abs().float().mean(dim=1)
    if len(offsets) > 1:
        b = s.shape[0] // len(offsets)
        s = torch.stack([unshift_map(s[i * b:(i + 1) * b], d)
                         for i, d in enumerate(offsets)]).mean(dim=0)
    return normalise_max(s)
