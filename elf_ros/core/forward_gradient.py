"""
The ELF input gradient written as forward operations (no autograd).

For a tap F the saliency needs dE/dx with E = 1/2 ||F||^2, i.e. J^T F (J: the Jacobian of F with
respect to the input). Walking the layers backwards, each adjoint is a fixed, ordinary operation:
a convolution becomes a transposed convolution with the same weights, a ReLU (or ReLU6) a mask
read off its output, a max-pool an "unpool" that routes each output's gradient to the input
position the forward pass picked (the first maximum of its window, as torch does), an eval-mode
BatchNorm a per-channel scale, a residual sum a sum of the two paths' gradients.

Why: a graph without ``torch.autograd.grad`` can be compiled whole (``torch.compile``), exported
to ONNX (and from there to TensorRT / OpenVINO), and skips autograd's bookkeeping. Only the
sequential built-in backbones (VGG, AlexNet, EfficientNet-Lite) are covered: their modules are a
closed, known set. Any other module raises :class:`UnsupportedLayerError`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812 - conventional alias

from elf_ros.core.activations import PassUpperReLU6
from elf_ros.core.efficientnet_lite import Head, MBConv, StemConv
from elf_ros.core.saliency import seed_of

Adjoint = Callable[[torch.Tensor], torch.Tensor]     # gradient at the output -> at the input


class UnsupportedLayerError(TypeError):
    """A module whose gradient has no forward-operation form here (use the autograd runtime)."""


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _crop_or_pad(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Cut or zero-extend the last two dims of ``g`` to those of ``like`` (trailing side)."""
    h, w = like.shape[-2:]
    g = g[..., :h, :w]
    return F.pad(g, (0, w - g.shape[-1], 0, h - g.shape[-2]))


def _reflect_pad_adjoint(g: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """
    Adjoint of ``F.pad(x, pad, mode='reflect')``: fold the mirrored border back onto the image.

    ``g`` (B, C, H + top + bottom, W + left + right) -> (B, C, H, W).
    """
    left, right, top, bottom = pad
    for dim, before, after in ((-1, left, right), (-2, top, bottom)):
        n = g.shape[dim] - before - after
        out = g.narrow(dim, before, n)
        # padded index j < before holds x[before - j]; after the image, x[n - 2 - j]
        moves = [(j, before - j) for j in range(before)]
        moves += [(before + n + j, n - 2 - j) for j in range(after)]
        for src, dst in moves:
            strip = g.narrow(dim, src, 1)
            spread = (dst, n - 1 - dst) if dim == -1 else (0, 0, dst, n - 1 - dst)
            out = out + F.pad(strip, spread)
        g = out
    return g


def conv_step(m: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """Convolution; adjoint: transposed convolution with the same weights, cut to x's size."""
    if isinstance(m.padding, str) or _pair(m.dilation) != (1, 1):
        raise UnsupportedLayerError(f'{m}: only integer padding and dilation 1 are supported')
    y = m(x)
    stride = _pair(m.stride)
    extra = (stride[0] - 1, stride[1] - 1)     # the rows/cols a strided conv dropped, cut below
    if m.padding_mode == 'zeros':
        def adjoint(g: torch.Tensor) -> torch.Tensor:
            gi = F.conv_transpose2d(g, m.weight, None, stride, _pair(m.padding), extra, m.groups)
            return _crop_or_pad(gi, x)
        return y, adjoint
    if m.padding_mode != 'reflect':
        raise UnsupportedLayerError(f'{m}: padding_mode {m.padding_mode!r} is not supported')
    pad = m._reversed_padding_repeated_twice  # (left, right, top, bottom), what conv pads with
    padded_h, padded_w = x.shape[-2] + pad[2] + pad[3], x.shape[-1] + pad[0] + pad[1]

    def reflect_adjoint(g: torch.Tensor) -> torch.Tensor:
        gp = F.conv_transpose2d(g, m.weight, None, stride, 0, extra, m.groups)
        gp = F.pad(gp[..., :padded_h, :padded_w],
                   (0, padded_w - min(gp.shape[-1], padded_w),
                    0, padded_h - min(gp.shape[-2], padded_h)))
        return _reflect_pad_adjoint(gp, tuple(pad))
    return y, reflect_adjoint


def mask_step(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """ReLU, ReLU6 and the pass-upper ReLU6: the gradient passes where torch's would."""
    if isinstance(m, nn.ReLU):
        y = F.relu(x)
        return y, lambda g: g * (y > 0).to(g.dtype)
    if isinstance(m, PassUpperReLU6):
        y = x.clamp(0.0, 6.0)
        return y, lambda g: g * (x > 0).to(g.dtype)
    # nn.ReLU6 is hardtanh(0, 6): its gradient is zero at and beyond both clips
    y = F.relu6(x)
    return y, lambda g: g * ((x > 0) & (x < 6)).to(g.dtype)


def maxpool_step(m: nn.MaxPool2d, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """
    Max-pooling; adjoint: each output's gradient goes to its window's first maximum.

    The forward indices are rebuilt as one mask per window offset (row-major, a position
    already taken by an earlier offset is skipped, exactly torch's choice among ties); the
    masked gradients are placed back by a pixel shuffle (kernel == stride) or a grouped
    transposed convolution with one-hot kernels (overlapping windows add up, as they must).
    """
    k, s = _pair(m.kernel_size), _pair(m.stride)
    if _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1) or m.ceil_mode:
        raise UnsupportedLayerError(f'{m}: only padding 0, dilation 1, floor mode are supported')
    y = m(x)

    def adjoint(g: torch.Tensor) -> torch.Tensor:
        ho, wo = y.shape[-2:]
        taken: torch.Tensor | None = None
        parts = []
        for i in range(k[0]):
            for j in range(k[1]):
                v = x[..., i:i + (ho - 1) * s[0] + 1:s[0], j:j + (wo - 1) * s[1] + 1:s[1]]
                hit = v == y
                if taken is None:
                    taken = hit
                else:
                    hit = hit & ~taken
                    taken = taken | hit
                parts.append(g * hit.to(g.dtype))
        c = g.shape[1]
        routed = torch.stack(parts, dim=2).flatten(1, 2)        # (B, C*k*k, Ho, Wo)
        if k == s:
            gi = F.pixel_shuffle(routed, k[0]) if k[0] == k[1] else _place(routed, k, s, c)
        else:
            gi = _place(routed, k, s, c)
        return _crop_or_pad(gi, x)
    return y, adjoint


def _place(routed: torch.Tensor, k: tuple[int, int], s: tuple[int, int], c: int
           ) -> torch.Tensor:
    """(B, C*kh*kw, Ho, Wo) -> (B, C, ...): entry (i, j) of each window lands at s*o + (i, j)."""
    eye = torch.eye(k[0] * k[1], dtype=routed.dtype, device=routed.device)
    weight = eye.view(k[0] * k[1], 1, k[0], k[1]).repeat(c, 1, 1, 1)
    return F.conv_transpose2d(routed, weight, None, s, 0, 0, c)


def batchnorm_step(m: nn.BatchNorm2d, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """Eval-mode BatchNorm is a per-channel affine map; adjoint: the per-channel scale."""
    if m.training or m.running_var is None:
        raise UnsupportedLayerError(f'{m}: only eval-mode BatchNorm with running statistics')
    scale = torch.rsqrt(m.running_var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    scale = scale.view(1, -1, 1, 1)
    return m(x), lambda g: g * scale.to(g.dtype)


def chain_steps(modules: list[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """Run modules in order; the adjoint runs their adjoints in reverse order."""
    adjoints = []
    for m in modules:
        x, a = layer_step(m, x)
        adjoints.append(a)

    def adjoint(g: torch.Tensor) -> torch.Tensor:
        for a in reversed(adjoints):
            g = a(g)
        return g
    return x, adjoint


def mbconv_step(m: MBConv, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """EfficientNet-Lite block; adjoint: branch adjoint, plus the identity when residual."""
    branch = [m._expand_conv, m._bn0, m.act0] if m.has_expand else []
    branch += [m._depthwise_conv, m._bn1, m.act1, m._project_conv, m._bn2]
    h, branch_adjoint = chain_steps(branch, x)
    if not m.residual:
        return h, branch_adjoint
    return h + x, lambda g: branch_adjoint(g) + g


def layer_step(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Adjoint]:
    """Forward one module of a built-in backbone and return the adjoint of its Jacobian."""
    if isinstance(m, nn.Conv2d):
        return conv_step(m, x)
    if isinstance(m, (nn.ReLU, nn.ReLU6, PassUpperReLU6)):
        return mask_step(m, x)
    if isinstance(m, nn.MaxPool2d):
        return maxpool_step(m, x)
    if isinstance(m, nn.BatchNorm2d):
        return batchnorm_step(m, x)
    if isinstance(m, nn.Identity):
        return x, lambda g: g
    if isinstance(m, MBConv):
        return mbconv_step(m, x)
    if isinstance(m, StemConv):
        return chain_steps([m._conv_stem, m._bn0], x)
    if isinstance(m, Head):
        return chain_steps([m._conv_head, m._bn1, m.act], x)
    raise UnsupportedLayerError(
        f'{type(m).__name__}: no forward-operation gradient for this module; use the '
        "'autograd' runtime")


def check_supported(layers: list[nn.Module]) -> None:
    """Raise :class:`UnsupportedLayerError` unless every module has a forward-operation adjoint."""
    probe = torch.zeros(1, 1, 1, 1)
    known = (nn.Conv2d, nn.ReLU, nn.ReLU6, PassUpperReLU6, nn.MaxPool2d, nn.BatchNorm2d,
             nn.Identity, MBConv, StemConv, Head)
    for layer in layers:
        for m in layer.modules():
            if not isinstance(m, known):
                layer_step(m, probe)            # raises with the module's name


class ForwardGradientTaps(nn.Module):
    """
    The taps of a sequential backbone plus the ELF input gradient, all forward operations.

    ``forward(x, desc_count)`` with x (B, 3, H, W) returns (G, (D, ...)): G (B, 3, H, W) is
    d(1/2 ||F||^2)/dx (below float32, F divided by the batch's max |F|, as elf_saliency seeds
    autograd: :func:`elf_ros.core.saliency.seed_of`), D the description maps of the first
    ``desc_count`` images (``desc_count`` 0: the detection tap alone, no description maps).
    ``describe(x)``: the description maps alone.
    """

    def __init__(self, layers: nn.ModuleList, det: int, desc: list[int]) -> None:
        super().__init__()
        check_supported(list(layers))
        self.layers, self.det, self.desc = layers, det, list(desc)

    def forward(self, x: torch.Tensor, desc_count: int | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        found: dict[int, torch.Tensor] = {}
        adjoints = []
        h = x
        for i in range(self.det + 1):
            h, adjoint = layer_step(self.layers[i], h)
            adjoints.append(adjoint)
            if i in self.desc:
                found[i] = h[:desc_count]
        f = h
        if desc_count != 0:
            h = f[:desc_count]
            for i in range(self.det + 1, max(self.desc) + 1):    # deeper description taps
                h = self.layers[i](h)
                if i in self.desc:
                    found[i] = h
        g = seed_of(f)
        for adjoint in reversed(adjoints):
            g = adjoint(g)
        return g, (tuple(found[i] for i in self.desc) if desc_count != 0 else ())

    def describe(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the description maps of x (B, 3, H, W): forward only, to the deepest tap."""
        found: dict[int, torch.Tensor] = {}
        h = x
        for i in range(max(self.desc) + 1):
            h = self.layers[i](h)
            if i in self.desc:
                found[i] = h
        return tuple(found[i] for i in self.desc)
