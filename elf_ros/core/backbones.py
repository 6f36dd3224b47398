"""
Backbones with named layer taps, trimmed to the deepest layer ELF needs, weights frozen.

A backbone returns two feature maps from one forward pass: the detection map F (inside the
autograd graph, for the saliency) and the description map D (computed without a graph when it is
deeper than F, since only the gradient of F is ever needed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from elf_ros.core.config import ConfigError, DetectorConfig, TORCHVISION_PREFIX
from elf_ros.core.efficientnet_lite import (
    lite0_layers,
    lite0_stage_ends,
    lite0_state_dict_for_layers,
)
from elf_ros.core.weights import (
    lite0_imagenet_path,
    load_state_file,
    seeded,
    torchvision_imagenet_state,
    WeightsError,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TF origin) normalises with mean 127 and std 128 on the 0..255 scale.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
VGG16_PLAN = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M',
              512, 512, 512, 'M')


@dataclass
class Backbone:
    """A built network and what the detector needs to know about its taps."""

    network: nn.Module            # forward(x) -> (detection map, description map)
    detection_layer: str
    description_layer: str
    detection_stride: int
    description_stride: int
    max_stride: int               # stride of the deeper tap: the smallest usable input side
    descriptor_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class SequentialTaps(nn.Module):
    """Layers run in order; F is read at ``det``, D at ``desc`` (no graph beyond F)."""

    def __init__(self, layers: list[nn.Module], det: int, desc: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers[:max(det, desc) + 1])
        self.det, self.desc = det, desc

    def forward(self, x: torch.Tensor, desc_count: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (F, D); D only for the first ``desc_count`` images when given."""
        h, d = x, None
        for i in range(self.det + 1):
            h = self.layers[i](h)
            if i == self.desc:
                d = h.detach()[:desc_count]
        f = h
        if d is None:
            with torch.no_grad():
                h = f.detach()[:desc_count]
                for i in range(self.det + 1, self.desc + 1):
                    h = self.layers[i](h)
            d = h
        return f, d


class GraphTaps(nn.Module):
    """Any torchvision model through torch.fx feature extraction (runs only what is needed)."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor, desc_count: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (F, D); D only for the first ``desc_count`` images when given."""
        out = self.extractor(x)
        return out['det'], out['desc'].detach()[:desc_count]


# --- built-in layer tables -------------------------------------------------------------------

def _vgg16_layers() -> list[tuple[str, nn.Module, int]]:
    layers, cin, block, conv, stride = [], 3, 1, 1, 1
    for item in VGG16_PLAN:
        if item == 'M':
            stride *= 2
            layers.append((f'pool{block}', nn.MaxPool2d(2, 2), stride))
            block, conv = block + 1, 1
        else:
            layers.append((f'conv{block}_{conv}', nn.Conv2d(cin, item, 3, padding=1), stride))
            layers.append((f'relu{block}_{conv}', nn.ReLU(inplace=False), stride))
            cin, conv = item, conv + 1
    return layers


def _alexnet_layers() -> list[tuple[str, nn.Module, int]]:
    return [
        ('conv1', nn.Conv2d(3, 64, 11, 4, 2), 4), ('relu1', nn.ReLU(), 4),
        ('pool1', nn.MaxPool2d(3, 2), 8),
        ('conv2', nn.Conv2d(64, 192, 5, padding=2), 8), ('relu2', nn.ReLU(), 8),
        ('pool2', nn.MaxPool2d(3, 2), 16),
        ('conv3', nn.Conv2d(192, 384, 3, padding=1), 16), ('relu3', nn.ReLU(), 16),
        ('conv4', nn.Conv2d(384, 256, 3, padding=1), 16), ('relu4', nn.ReLU(), 16),
        ('conv5', nn.Conv2d(256, 256, 3, padding=1), 16), ('relu5', nn.ReLU(), 16),
        ('pool5', nn.MaxPool2d(3, 2), 32)]


@dataclass(frozen=True)
class _Builtin:
    make_layers: Callable[[], list[tuple[str, nn.Module, int]]]
    detection: str
    description: str
    torchvision_name: str | None     # whose published weights ('features.N' keys) we load
    aliases: Callable[[], dict[str, str]] = dict
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


BUILTINS: dict[str, _Builtin] = {
    'vgg16': _Builtin(_vgg16_layers, 'pool2', 'pool3', 'vgg16'),
    'alexnet': _Builtin(_alexnet_layers, 'pool1', 'pool2', 'alexnet'),
    'efficientnet_lite0': _Builtin(lite0_layers, 'stem', 'stage3', None, lite0_stage_ends,
                                   LITE_MEAN, LITE_STD),
}


def layer_names(backbone: str) -> list[str]:
    """All tap names of a built-in backbone (layer names first, then aliases)."""
    spec = BUILTINS[backbone]
    return [name for name, _m, _s in spec.make_layers()] + list(spec.aliases())


def _freeze(net: nn.Module) -> nn.Module:
    net.eval()
    net.requires_grad_(False)
    return net


def _init_random(layers: list[nn.Module]) -> None:
    """He initialisation for convolutions, as torchvision does, so random features keep scale."""
    for layer in layers:
        for m in layer.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def _load_sequential(backbone: str, layers: list[nn.Module], cfg: DetectorConfig) -> None:
    if backbone == 'efficientnet_lite0':
        path = lite0_imagenet_path() if cfg.weights == 'imagenet' else cfg.weights
        parts = lite0_state_dict_for_layers(load_state_file(path))
    else:
        state = (torchvision_imagenet_state(BUILTINS[backbone].torchvision_name)
                 if cfg.weights == 'imagenet' else load_state_file(cfg.weights))
        parts = [{k.split('.', 2)[2]: v for k, v in state.items()
                  if k.startswith(f'features.{i}.')} for i in range(len(layers))]
    for i, layer in enumerate(layers):
        try:
            layer.load_state_dict(parts[i], strict=True)
        except RuntimeError as exc:
            raise WeightsError(
                f'weights: {cfg.weights!r} does not fit {backbone} layer {i}: {exc}') from None


def _build_builtin(cfg: DetectorConfig) -> Backbone:
    spec = BUILTINS[cfg.backbone]
    aliases = spec.aliases()
    det_name = cfg.detection_layer or spec.detection
    desc_name = cfg.description_layer or spec.description
    with seeded(cfg.seed):
        table = spec.make_layers()
    names = [n for n, _m, _s in table]
    det = names.index(aliases.get(det_name, det_name))
    desc = names.index(aliases.get(desc_name, desc_name))
    layers = [m for _n, m, _s in table][:max(det, desc) + 1]   # nothing deeper is ever run
    if cfg.weights == 'random':
        with seeded(cfg.seed):
            _init_random(layers)
    else:
        _load_sequential(cfg.backbone, layers, cfg)
    for layer in layers:
        if hasattr(layer, 'fuse'):
            layer.eval()
            layer.fuse()
    net = _freeze(SequentialTaps(layers, det, desc))
    with torch.no_grad():
        probe = torch.zeros(1, 3, 64, 64)
        _f, d = net(probe)
    return Backbone(net, det_name, desc_name, table[det][2], table[desc][2],
                    max(table[det][2], table[desc][2]), d.shape[1], spec.mean, spec.std)


# --- any torchvision classification model ----------------------------------------------------

def _node_strides(model: nn.Module, nodes: list[str], side: int = 128) -> dict[str, int]:
    """Stride of each 4-D node output, probed once on a small input."""
    from torchvision.models.feature_extraction import create_feature_extractor

    extractor = create_feature_extractor(model, {n: n for n in nodes})
    with torch.no_grad():
        outs = extractor(torch.zeros(1, 3, side, side))
    return {n: max(1, round(side / v.shape[-1])) for n, v in outs.items()
            if isinstance(v, torch.Tensor) and v.dim() == 4}


def _build_torchvision(cfg: DetectorConfig) -> Backbone:
    import torchvision
    from torchvision.models.feature_extraction import (
        create_feature_extractor,
        get_graph_node_names,
    )

    name = cfg.backbone[len(TORCHVISION_PREFIX):]
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ConfigError(
            f'backbone: torchvision has no classification model {name!r}; allowed: '
            + ', '.join(torchvision.models.list_models(module=torchvision.models)))
    with seeded(cfg.seed):
        model = torchvision.models.get_model(name, weights=None)
    if cfg.weights != 'random':
        state = (torchvision_imagenet_state(name) if cfg.weights == 'imagenet'
                 else load_state_file(cfg.weights))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f'weights: {cfg.weights!r} does not fit {name}: {exc}') from None
    model = _freeze(model)
    nodes = get_graph_node_names(model)[1]
    strides = _node_strides(model, [n for n in nodes if n != 'x'])
    defaults = {}
    for field, want in (('detection_layer', 4), ('description_layer', 8)):
        chosen = getattr(cfg, field)
        if chosen and chosen not in strides:
            raise ConfigError(
                f'{field}: {chosen!r} is not a 4-D feature node of {name}; allowed: '
                + ', '.join(strides))
        at = [n for n, s in strides.items() if s == want]
        defaults[field] = chosen or (at[-1] if at else next(iter(strides)))
    det, desc = defaults['detection_layer'], defaults['description_layer']
    extractor = create_feature_extractor(model, {det: 'det', desc: 'desc'})
    net = _freeze(GraphTaps(extractor))
    with torch.no_grad():
        _f, d = net(torch.zeros(1, 3, 64, 64))
    return Backbone(net, det, desc, strides[det], strides[desc],
                    max(strides[det], strides[desc]), d.shape[1], IMAGENET_MEAN, IMAGENET_STD)


def build_backbone(cfg: DetectorConfig) -> Backbone:
    """Build the frozen, trimmed network a validated config describes (on the CPU)."""
    if cfg.backbone.startswith(TORCHVISION_PREFIX):
        return _build_torchvision(cfg)
    return _build_builtin(cfg)
