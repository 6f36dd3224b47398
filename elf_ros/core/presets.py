"""Named detector configurations: the paper's runs and the offline-capable variants."""
from __future__ import annotations

from typing import Any

from elf_ros.core.config import ConfigError, DetectorConfig

# The paper resized every image to 640x480. Presets keep 640 px on the long side but keep the
# aspect ratio and never upscale (a 640x480 frame is processed exactly as in the paper); set
# input_width/input_height for the paper's fixed, distorting resize.
_PAPER = dict(input_long_side=640, threshold_blur_kernel=5,
              threshold_blur_sigma=5.0, noise_blur_kernel=5, noise_blur_sigma=4.0,
              nms_radius=10, border=10, max_keypoints=500)

PRESETS: dict[str, dict[str, Any]] = {
    # ELF-VGG as published: pool2 saliency, pool3 descriptors, 640 px long side.
    'vgg16': dict(_PAPER, backbone='vgg16', weights='imagenet', detection_layer='pool2',
                  description_layer='pool3'),
    'alexnet': dict(_PAPER, backbone='alexnet', weights='imagenet', detection_layer='pool1',
                    description_layer='pool2'),
    # Real ImageNet weights usable offline; standardisation and shift averaging counter the
    # brightness sensitivity and stride aliasing of its stride-2 layers. Detection on the stem
    # (stride 2): deeper Lite0 layers give high-frequency saliency that leaves few, unrepeatable
    # keypoints after ELF's blur + Kapur (docs/core.md has the numbers).
    'efficientnet_lite0': dict(_PAPER, backbone='efficientnet_lite0', weights='imagenet',
                               detection_layer='stem', description_layer='stage3',
                               preprocessing='standardize', shift_averaging=2),
    # Seeded random VGG16: a control (how much comes from the architecture alone) and for tests.
    'random': dict(_PAPER, backbone='vgg16', weights='random', detection_layer='pool2',
                   description_layer='pool3', seed=0),
}


def load_preset(name: str, **overrides: Any) -> DetectorConfig:
    """Return the validated config of a preset, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError(f'preset: unknown {name!r}; allowed: {", ".join(PRESETS)}')
    return DetectorConfig().replace(**PRESETS[name]).replace(**overrides).validate()
