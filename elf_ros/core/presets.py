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

# The normalised VGG-19 file (../shared/weights, keys 0, 2, 5, ...) holds conv1_1..conv3_1: its
# presets tap no deeper than conv3_1, so that file works with 'weights: <file>'.
_VGG = dict(_PAPER, detection_layer='pool2', description_layer='conv3_1', weights='imagenet')
_VGG_USERS = dict(_VGG, preprocessing='imagenet', threshold_scale=0.0, subpixel=True)
# VGG-19 describes with relu3_1 (conv3_1 after its ReLU): measured on the 30 Oxford/HPatches
# pairs, more correct matches than conv3_1 in every group (viewpoint 1.08x SIFT vs 1.02x,
# zoom+rotation 0.35x vs 0.24x, photometric 0.96x vs 0.90x) and H acc@3px 47/40/80 % vs
# 53/20/70 %: the clipped, sparser map is more distinctive once L2-normalised (docs/core.md).
# EfficientNet-Lite, as measured best (docs/core.md): the stem's map before ReLU6 (its saliency
# follows image gradients; after the clip it is anti-correlated), all 4 phases of the stride-2
# grid, the weights' own normalisation, stage3 and stage5 descriptors concatenated.
_LITE = dict(_PAPER, weights='imagenet', detection_layer='stem_conv',
             description_layer='stage3,stage5', preprocessing='imagenet', shift_averaging=4,
             threshold_scale=0.0, subpixel=True)

# The preset of the node, the launch file (config/elf.yaml), elf-bag, the eval and the
# benchmarks when none is given: measured best of those that run everywhere (offline: its
# weights are a pip package; real time on a CPU). The VGG presets need torchvision's download
# (or a weights file) and are best on a GPU.
DEFAULT_PRESET = 'efficientnet_lite1'

# The offline default, tuned (docs/core.md, "Tuning the offline default"): 2 shifts (the
# diagonal pair keeps the matches of 4 at less cost), a 7-tap noise blur (more stable maxima:
# more correct matches in every group), threshold_scale 0.25 (the same top 500 on every
# measured image, but NMS no longer resolves the flat background: ~45 ms less on one thread).
# Issues 16/17 ("Localisation of the offline default"): one max-pool NMS pass on the float map
# (radius 5 keeps the correct matches of greedy NMS at 10) instead of the greedy 8-bit rounds:
# sharper positions and NMS ~1 ms; threshold_scale 0.25 stays a floor (the same top 500 where
# enough maxima pass it; flat regions stay out of small or bland frames). Issue 16 ("Blurring
# the network input"): a Gaussian of sigma 1 network pixel before the network, so the stem's
# saliency follows structure that survives resampling, blur and JPEG; with it the saliency
# needs less blur after the network (noise blur sigma 4 -> 1.5, the same 7 taps): median error
# of correct matches 1.51 -> 1.06 px, 42 -> 60 % within 1 px, 9-36 % more correct matches,
# 20-60 % more pose inliers, no pose worse beyond the bootstrap noise.
_LITE1 = dict(_LITE, backbone='efficientnet_lite1', shift_averaging=2, noise_blur_kernel=7,
              noise_blur_sigma=1.5, threshold_scale=0.25, nms_mode='float', nms_radius=5,
              input_blur_sigma=1.0)

PRESETS: dict[str, dict[str, Any]] = {
    # ELF-VGG as the paper ran it (VGG-19, Kapur's threshold, per-image standardisation as in
    # the official code, whole-pixel keypoints): offline with the normalised VGG-19 file, online
    # with torchvision's VGG-19 weights.
    'vgg19_paper': dict(_VGG, backbone='vgg19', preprocessing='standardize'),
    # What users run: no threshold (every NMS maximum a candidate, top 500: enough keypoints),
    # sub-pixel positions, the weights' own normalisation (measured, docs/core.md).
    'vgg19': dict(_VGG_USERS, backbone='vgg19', description_layer='relu3_1'),
    'vgg16': dict(_VGG_USERS, backbone='vgg16'),
    'alexnet': dict(_PAPER, backbone='alexnet', weights='imagenet', detection_layer='pool1',
                    description_layer='pool2'),
    # The offline default: _LITE1 above (docs/core.md, "Tuning the offline default",
    # "Localisation of the offline default", "Blurring the network input").
    'efficientnet_lite1': dict(_LITE1),
    # Better positions at 1.4x the CPU time (docs/core.md, "The fine preset at 1.5x"): the stem
    # alone on the 1.5x-upsampled image (2 shifts and the 7-tap blur in fine pixels), float NMS
    # radius 5 (network pixels), a 5x5 quadratic sub-pixel fit; descriptors from the 1x pass.
    # Its input blur is 0.7 network px, about one fine pixel as the default's is one of its
    # own: median error of correct matches 1.13 -> 1.06 px, 53 -> 60 % within 1 px (SIFT 0.79 /
    # 77 %), 9-24 % more correct matches, poses unchanged within the bootstrap noise (sigma 1.0:
    # 0.99 px / 62 %, but one refined pose cell significantly worse).
    # Its noise blur stays sigma 4 in fine pixels (1.5 gave 0.99 px / 62 % but fewer correct
    # matches; its poses were not measured).
    'efficientnet_lite1_fine': dict(_LITE1, saliency_upsample=1.5, subpixel_window=5,
                                    input_blur_sigma=0.7, noise_blur_sigma=4.0),
    # Rotation-robust variant of the offline default (issue 16): intensity-centroid angles and
    # descriptors blended from 8 rotated copies (upright descriptors ride along, so a matcher
    # can choose per pair). For cameras that roll (hand-held, drones); ground robots keep
    # upright lite1, which is cheaper and more distinctive when the image does not turn. No
    # input blur and the sigma-4 noise blur: with the default's blurs its keypoints repeat less
    # under rotation (rotation sweep: rep 67 -> 57 %, correct matches 269 -> 220 per pair;
    # docs/core.md "Blurring the network input").
    'efficientnet_lite1_rot': dict(_LITE1, orientation='centroid', rotations=8,
                                   input_blur_sigma=0.0, noise_blur_sigma=4.0),
    'efficientnet_lite0': dict(_LITE, backbone='efficientnet_lite0'),
    'efficientnet_lite2': dict(_LITE, backbone='efficientnet_lite2'),
    # Seeded random VGG16: a control (how much comes from the architecture alone) and for tests.
    'random': dict(_PAPER, backbone='vgg16', weights='random', detection_layer='pool2',
                   description_layer='pool3', seed=0),
}


def load_preset(name: str, **overrides: Any) -> DetectorConfig:
    """Return the validated config of a preset, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError(f'preset: unknown {name!r}; allowed: {", ".join(PRESETS)}')
    return DetectorConfig().replace(**PRESETS[name]).replace(**overrides).validate()
