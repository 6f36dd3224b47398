"""
Backbones with named layer taps, trimmed to the deepest layer ELF needs, weights frozen.

A backbone returns the detection map F (inside the autograd graph, for the saliency) and the
description maps D (one per description layer, computed without a graph beyond F, since only
the gradient of F is ever needed) from one forward pass. What each built-in backbone is lives in
elf_ros.core.registry; this module turns an entry plus its weights into a network.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from elf_ros.core.activations import pass_relu6_gradient
from elf_ros.core.config import ConfigError, DetectorConfig
from elf_ros.core.efficientnet_lite import lite_layers, lite_state_dict_for_layers
from elf_ros.core.registry import (
    alexnet_table,
    BACKBONES,
    BackboneSpec,
    IMAGENET_MEAN,
    IMAGENET_STD,
    split_layers,
    TORCHVISION_PREFIX,
    VGG_PLANS,
    vgg_table,
)
from elf_ros.core.weights import (
    is_normalised_vgg,
    lite_imagenet_path,
    load_state_file,
    seeded,
    torchvision_imagenet_state,
    WeightsError,
)

Rgb = tuple[float, float, float]
Layers = list[tuple[str, nn.Module, int]]       # (name, module, cumulative stride)
NORMALISED_VGG_INPUT = 'bgr'                     # the 1x1 conv of the normalised VGG file


@dataclass
class Backbone:
    """A built network and what the detector needs to know about its taps."""

    network: nn.Module            # forward(x, desc_count) -> (F, (D1, D2, ...))
    detection_layer: str
    description_layer: str        # comma-separated when several
    detection_stride: int
    description_stride: int       # of the coarsest description layer
    max_stride: int               # of the deepest tap: the smallest usable input side
    descriptor_dim: int           # channels of all description layers together
    mean: Rgb                     # fixed normalisation: (x / 255 - mean) / std
    std: Rgb
    # Per-image standardisation gives z = (x - mean_img) / std_img; the network gets
    # z * standard_scale + standard_shift (identity unless the weights expect another range).
    standard_scale: Rgb = (1.0, 1.0, 1.0)
    standard_shift: Rgb = (0.0, 0.0, 0.0)


class SequentialTaps(nn.Module):
    """Layers run in order; F is read at ``det``, each D at ``desc`` (no graph beyond F)."""

    def __init__(self, layers: list[nn.Module], det: int, desc: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers[:max(det, *desc) + 1])
        self.det, self.desc = det, list(desc)

    def forward(self, x: torch.Tensor, desc_count: int | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Return (F, (D, ...)); D only for the first ``desc_count`` images when given."""
        h, found = x, {}
        for i in range(self.det + 1):
            h = self.layers[i](h)
            if i in self.desc:
                found[i] = h.detach()[:desc_count]
        f = h
        deepest = max(self.desc)
        if deepest > self.det:
            with torch.no_grad():
                h = f.detach()[:desc_count]
                for i in range(self.det + 1, deepest + 1):
                    h = self.layers[i](h)
                    if i in self.desc:
                        found[i] = h
        return f, tuple(found[i] for i in self.desc)


class GraphTaps(nn.Module):
    """Any torchvision model through torch.fx feature extraction (runs only what is needed)."""

    def __init__(self, extractor: nn.Module, det: str, desc: list[str]) -> None:
        super().__init__()
        self.extractor, self.det, self.desc = extractor, det, list(desc)

    def forward(self, x: torch.Tensor, desc_count: int | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Return (F, (D, ...)); D only for the first ``desc_count`` images when given."""
        out = self.extractor(x)
        return out[self.det], tuple(out[d].detach()[:desc_count] for d in self.desc)


# --- layer builders, one per family ----------------------------------------------------------

def vgg_layers(name: str, normalised: bool = False) -> Layers:
    """
    Torchvision's VGG ``features`` with its layer names.

    ``normalised``: the layout of the Gatys-normalised VGG file instead: a 1x1 input conv
    ('bgr': RGB in [0, 1] -> Caffe BGR) first, and reflection padding in every 3x3 conv.
    """
    pad = 'reflect' if normalised else 'zeros'
    layers: Layers = [(NORMALISED_VGG_INPUT, nn.Conv2d(3, 3, 1), 1)] if normalised else []
    cin = 3
    channels = iter(c for c in VGG_PLANS[name] if c != 'M')
    for layer, stride in vgg_table(VGG_PLANS[name]):
        if layer.startswith('conv'):
            cout = next(channels)
            module: nn.Module = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pad)
            cin = cout
        else:
            module = nn.ReLU() if layer.startswith('relu') else nn.MaxPool2d(2, 2)
        layers.append((layer, module, stride))
    return layers


def alexnet_layers() -> Layers:
    """Torchvision's AlexNet ``features`` with its layer names."""
    modules = [nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
               nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
               nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
               nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
               nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]
    return [(n, m, s) for (n, s), m in zip(alexnet_table(), modules, strict=True)]


def make_layers(spec: BackboneSpec, normalised: bool = False) -> Layers:
    """Build the full layer table of a registry entry (modules freshly initialised)."""
    if spec.family == 'vgg':
        return vgg_layers(spec.name, normalised)
    if spec.family == 'alexnet':
        return alexnet_layers()
    return lite_layers(spec.name)


# --- weights ---------------------------------------------------------------------------------

def _state(cfg: DetectorConfig, spec: BackboneSpec) -> dict[str, torch.Tensor]:
    if cfg.weights != 'imagenet':
        return load_state_file(cfg.weights)
    if spec.family == 'efficientnet_lite':
        return load_state_file(lite_imagenet_path(spec.name))
    return torchvision_imagenet_state(spec.name)


def _split_state(spec: BackboneSpec, layers: Layers, state: dict[str, torch.Tensor],
                 normalised: bool) -> list[dict[str, torch.Tensor]]:
    """Per-layer state dicts in table order (empty where the file has nothing)."""
    if spec.family == 'efficientnet_lite':
        return lite_state_dict_for_layers(spec.name, state)
    if normalised:   # file indices count padding/ReLU/pool modules too: match convs in order
        keys = sorted({int(k.split('.', 1)[0]) for k in state if k.endswith('.weight')})
        convs = [i for i, (_n, m, _s) in enumerate(layers) if isinstance(m, nn.Conv2d)]
        parts: list[dict[str, torch.Tensor]] = [{} for _ in layers]
        for i, key in zip(convs, keys, strict=False):
            parts[i] = {k.split('.', 1)[1]: v for k, v in state.items()
                        if k.split('.', 1)[0] == str(key)}
        return parts
    return [{k.split('.', 2)[2]: v for k, v in state.items() if k.startswith(f'features.{i}.')}
            for i in range(len(layers))]


def _load(cfg: DetectorConfig, spec: BackboneSpec, layers: Layers,
          parts: list[dict[str, torch.Tensor]]) -> None:
    """Load each built layer strictly; a layer the taps need but the file lacks is an error."""
    source = 'imagenet' if cfg.weights == 'imagenet' else f'file {cfg.weights!r}'
    held = [n for (n, _m, _s), p in zip(layers, parts, strict=False) if p]
    for i, (name, layer, _s) in enumerate(layers):
        part = parts[i] if i < len(parts) else {}
        if not part and next(iter(layer.state_dict()), None) is not None:
            raise WeightsError(
                f'weights: {source} has no weights for layer {name} of {spec.name}, which the '
                f'taps {cfg.detection_layer or spec.detection}/'
                f'{cfg.description_layer or spec.description} need; it holds '
                + (f'{held[0]} .. {held[-1]}' if held else 'no layer of this backbone')
                + '. Choose shallower layers or a complete file.')
        try:
            layer.load_state_dict(part, strict=True)
        except RuntimeError as exc:
            raise WeightsError(
                f'weights: {source} does not fit {spec.name} layer {name}: {exc}') from None


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


def _descriptor_dim(net: nn.Module) -> int:
    with torch.no_grad():
        _f, ds = net(torch.zeros(1, 3, 64, 64))
    return sum(d.shape[1] for d in ds)


def _build_builtin(cfg: DetectorConfig) -> Backbone:
    spec = BACKBONES[cfg.backbone]
    det_name = cfg.detection_layer or spec.detection
    desc_names = split_layers(cfg.description_layer or spec.description)
    state = None if cfg.weights == 'random' else _state(cfg, spec)
    normalised = state is not None and is_normalised_vgg(state)
    if normalised and spec.family != 'vgg':
        raise WeightsError(f'weights: {cfg.weights!r} is a normalised VGG-19 file; it needs '
                           f'backbone vgg19, not {spec.name}')
    with seeded(cfg.seed):
        table = make_layers(spec, normalised)
    names = [n for n, _m, _s in table]
    det = names.index(spec.resolve(det_name))
    desc = [names.index(spec.resolve(d)) for d in desc_names]
    table = table[:max(det, *desc) + 1]            # nothing deeper is ever run
    layers = [m for _n, m, _s in table]
    if state is None:
        with seeded(cfg.seed):
            _init_random(layers)
    else:
        _load(cfg, spec, table, _split_state(spec, table, state, normalised))
    for layer in layers:
        if hasattr(layer, 'fuse'):
            layer.eval()
            layer.fuse()
    net = SequentialTaps(layers, det, desc)
    if cfg.relu6_pass_gradient:
        pass_relu6_gradient(net)
    net = _freeze(net)
    strides = [table[i][2] for i in (det, *desc)]
    mean, std = ((0.0,) * 3, (1.0,) * 3) if normalised else (spec.mean, spec.std)
    affine = (IMAGENET_STD, IMAGENET_MEAN) if normalised else ((1.0,) * 3, (0.0,) * 3)
    return Backbone(net, det_name, ','.join(desc_names), strides[0], max(strides[1:]),
                    max(strides), _descriptor_dim(net), mean, std, *affine)


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
    if cfg.relu6_pass_gradient:
        pass_relu6_gradient(model)
    model = _freeze(model)
    nodes = get_graph_node_names(model)[1]
    strides = _node_strides(model, [n for n in nodes if n != 'x'])
    for node in [cfg.detection_layer, *split_layers(cfg.description_layer)]:
        if node and node not in strides:
            raise ConfigError(
                f'detection_layer/description_layer: {node!r} is not a 4-D feature node of '
                f'{name}; allowed: ' + ', '.join(strides))

    def default(want: int) -> str:
        at = [n for n, s in strides.items() if s == want]
        return at[-1] if at else next(iter(strides))

    det = cfg.detection_layer or default(4)
    desc = split_layers(cfg.description_layer) or [default(8)]
    extractor = create_feature_extractor(model, {n: n for n in dict.fromkeys([det, *desc])})
    net = _freeze(GraphTaps(extractor, det, desc))
    taps = [strides[n] for n in (det, *desc)]
    return Backbone(net, det, ','.join(desc), taps[0], max(taps[1:]), max(taps),
                    _descriptor_dim(net), IMAGENET_MEAN, IMAGENET_STD)


def build_backbone(cfg: DetectorConfig) -> Backbone:
    """Build the frozen, trimmed network a validated config describes (on the CPU)."""
    if cfg.backbone.startswith(TORCHVISION_PREFIX):
        return _build_torchvision(cfg)
    return _build_builtin(cfg)


def layer_names(backbone: str) -> list[str]:
    """All tap names of a built-in backbone (layer names first, then aliases)."""
    return BACKBONES[backbone].layer_names()
