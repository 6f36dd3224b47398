"""
The detector's configuration: one dataclass, its field metadata and its validation.

The field names are the ROS parameter names, and ``FIELD_SPECS`` carries the help text, ranges
and choices, so the node can declare its parameters from here (one source of truth).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
import re
from typing import Any, Mapping

from elf_ros.core.registry import (
    backbone_choices,
    BACKBONES,
    split_layers,
    TORCHVISION_PREFIX,
)

PREPROCESSING = ('auto', 'standardize', 'imagenet')
NMS_MODES = ('greedy', 'float')
# How the front end (network + input gradient) runs: elf_ros.core.runtime says what each means.
# 'auto' picks one of the others per device and config (elf_ros.core.runtime.resolve_runtime).
RUNTIMES = ('auto', 'autograd', 'forward', 'compile', 'bf16', 'onnxruntime', 'openvino')
ENGINE_RUNTIMES = ('onnxruntime', 'openvino')
ORIENTATIONS = ('upright', 'centroid')   # elf_ros.core.orientation implements them
_DEVICE_RE = re.compile(r'^(auto|cpu|cuda|cuda:\d+)$')


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


@dataclass(frozen=True)
class FieldSpec:
    """What a field means and which values it accepts (for validation and ROS parameters)."""

    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    runtime: bool = False

    def allowed(self) -> str:
        """Human-readable allowed values, used in error messages and help text."""
        if self.choices:
            return ', '.join(repr(c) for c in self.choices)
        if self.minimum is not None and self.maximum is not None:
            return f'{_num(self.minimum)} .. {_num(self.maximum)}'
        return 'any value of the right type'


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f'{v:g}'


def _f(default: Any, description: str, **kw: Any) -> Any:
    return field(default=default, metadata={'spec': FieldSpec(description, **kw)})


@dataclass
class DetectorConfig:
    """Everything that defines an ELF detector; defaults follow the paper's ELF-VGG runs."""

    backbone: str = _f(
        'vgg16', f'Backbone: {backbone_choices()} for any torchvision classification model '
        '(layers are graph node names).')
    weights: str = _f(
        'imagenet', "'imagenet' (the backbone's published weights), 'random' (seeded, for "
        'tests), or a path to a state-dict file.')
    detection_layer: str = _f(
        '', "Layer whose feature map defines the saliency ('' = backbone default, "
        'e.g. vgg16 pool2).')
    description_layer: str = _f(
        '', "Layer(s) sampled for descriptors ('' = backbone default, e.g. vgg16 pool3); "
        "several, comma-separated (e.g. 'stage3,stage5'): each L2-normalised, concatenated, "
        'renormalised.')
    descriptor_centering: bool = _f(
        False, "Subtract each description map's per-image channel mean before sampling (each "
        'layer centred, then L2-normalised): the component every descriptor of the image shares '
        'no longer dominates their distances (more correct matches; docs/core.md).',
        runtime=True)
    preprocessing: str = _f(
        'auto', "'standardize' (per-image mean/std, official ELF code), 'imagenet' (the weights' "
        "own normalisation), 'auto' (the backbone's default).", choices=PREPROCESSING)
    relu6_pass_gradient: bool = _f(
        False, "Let the saliency gradient pass ReLU6's upper clip (forward unchanged): edges "
        'that saturate ReLU6 keep their gradient (EfficientNet-Lite, any nn.ReLU6).')
    input_width: int = _f(
        0, 'Width the image is resized to for the network (0 = native, with input_height 0).',
        minimum=0, maximum=8192)
    input_height: int = _f(
        0, 'Height the image is resized to for the network (0 = native, with input_width 0).',
        minimum=0, maximum=8192)
    input_long_side: int = _f(
        0, 'Resize so the longer side has this many pixels, aspect ratio kept; smaller images '
        'stay at their own size (never upscaled). 0 = off. input_width/input_height win when set.',
        minimum=0, maximum=8192, runtime=True)
    min_source_side: int = _f(
        16, 'Images whose shorter side has fewer pixels are refused with a ValueError (too '
        'little content for ELF, whatever the resize).', minimum=1, maximum=8192, runtime=True)
    input_blur_sigma: float = _f(
        0.0, 'Gaussian blur of the network-size image before the network, sigma in network '
        'pixels (0 = off): the saliency then follows structure that survives resampling, blur '
        'and compression rather than pixel-level texture near the sampling limit: steadier '
        'keypoint positions, more repeated keypoints and correct matches (docs/core.md).',
        minimum=0.0, maximum=10.0, runtime=True)
    threshold_blur_kernel: int = _f(
        5, 'Odd Gaussian kernel size of the blur before the Kapur threshold.',
        minimum=1, maximum=63, runtime=True)
    threshold_blur_sigma: float = _f(
        5.0, 'Sigma of the blur before the Kapur threshold (0 = from the kernel size).',
        minimum=0.0, maximum=100.0, runtime=True)
    noise_blur_kernel: int = _f(
        5, 'Odd Gaussian kernel size of the denoising blur of the saliency.',
        minimum=1, maximum=63, runtime=True)
    noise_blur_sigma: float = _f(
        4.0, 'Sigma of the denoising blur (0 = from the kernel size).',
        minimum=0.0, maximum=100.0, runtime=True)
    threshold_scale: float = _f(
        1.0, "Factor on Kapur's threshold (1 = the paper; 0 = no threshold: every NMS maximum "
        'with positive saliency is a candidate; lower keeps more keypoints).',
        minimum=0.0, maximum=4.0, runtime=True)
    nms_radius: int = _f(
        10, 'Non-maximum suppression radius in network pixels ((2r+1)^2 window).',
        minimum=0, maximum=200, runtime=True)
    border: int = _f(
        10, 'Keypoints closer than this to the image edge (network pixels) are dropped.',
        minimum=0, maximum=1000, runtime=True)
    max_keypoints: int = _f(
        500, 'Keep at most this many keypoints, highest score first (0 = all).',
        minimum=0, maximum=1000000, runtime=True)
    subpixel: bool = _f(
        False, 'Refine keypoints to sub-pixel positions by a parabola fit of the float (not '
        'quantised) saliency, and score them from it; NMS and threshold stay as in the paper.',
        runtime=True)
    subpixel_window: int = _f(
        3, "Window of the sub-pixel fit (odd): 3 = a parabola through each axis' 3 pixels; 5, 7, "
        '9 = a 2-D quadratic least-squares fit over that square (steadier on broad peaks).',
        minimum=3, maximum=9, runtime=True)
    nms_mode: str = _f(
        'greedy', "'greedy': the paper's greedy NMS on the 8-bit map (iterated rounds); 'float' "
        '(needs subpixel): one max-pool pass on the float noise-blurred map, a point kept when it '
        'is the maximum of its window; fewer keypoints in dense clusters, no rounds, faster.',
        choices=NMS_MODES, runtime=True)
    saliency_upsample: float = _f(
        1.0, 'Detect on the image upsampled by this factor (1 = off): the detection tap alone '
        'runs on the finer image, blurs and NMS work in its pixels (blur kernels and sigmas are '
        'in fine pixels; nms_radius and border stay in network pixels), keypoints are mapped '
        'back; descriptors still come from the network-size pass. Sharper keypoint positions '
        'at the cost of the tap and post-processing on factor^2 the pixels.',
        minimum=1.0, maximum=4.0, runtime=True)
    shift_averaging: int = _f(
        1, 'Average the saliency over this many one-pixel phase shifts of the input (1 = off; '
        '2 = diagonal pair, 4 = all phases of a stride-2 grid); reduces stride aliasing.',
        minimum=1, maximum=16)
    orientation: str = _f(
        'upright', "'upright': descriptors as the network sees the image, angle -1 (ground "
        "robots); 'centroid': each keypoint gets ORB's intensity-centroid angle and a descriptor "
        'blended from the two of `rotations` rotated copies of the image that bracket it '
        '(rotation-invariant, costs the network on those copies).', choices=ORIENTATIONS,
        runtime=True)
    rotations: int = _f(
        8, "Rotated copies of the image for 'centroid' descriptors (K; step 360/K degrees).",
        minimum=2, maximum=36, runtime=True)
    scale_levels: int = _f(
        1, 'Detect also on this many shrunken copies in all (1 = off; levels 1, scale_step, '
        'scale_step^2, ...) and keep the strongest max_keypoints of all levels: matches across '
        'zoom beyond 2x; costs the pipeline on each level.', minimum=1, maximum=6, runtime=True)
    scale_step: float = _f(
        0.5, 'Shrink factor between scale levels.', minimum=0.25, maximum=0.95, runtime=True)
    device: str = _f('auto', "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'.")
    half_precision: bool = _f(
        False, 'Run the network in float16 on CUDA (post-processing stays float32); '
        'ignored on CPU.')
    cuda_graphs: bool = _f(
        True, 'On CUDA, capture the pipeline as a CUDA graph per input shape (removes most '
        'launch overhead at small batches); ignored on CPU.')
    seed: int = _f(0, "Seed of the 'random' weights.", minimum=0, maximum=2**31 - 1)
    runtime: str = _f(
        'auto', "How the network and its input gradient run: 'auto' (onnxruntime for the "
        "Lite backbones on a CPU when it is installed, else autograd), 'autograd' (torch "
        "autograd, any backbone), 'forward' (the gradient as forward operations), 'compile' "
        "(that, through torch.compile), 'bf16' (that, under bfloat16 autocast), "
        "'onnxruntime' or 'openvino' (its ONNX export run by that engine; pip package of the "
        "same name).", choices=RUNTIMES)
    exported_model: str = _f(
        '', "Path to an ONNX front end written by elf-export, run with runtime 'onnxruntime' "
        "or 'openvino' instead of building the torch network ('' = export at start-up).")

    def validate(self) -> 'DetectorConfig':
        """Check every field; raise ConfigError naming the first bad field and allowed values."""
        for f in fields(self):
            _check_field(f.name, getattr(self, f.name), f.type)
        _check_backbone(self.backbone)
        if not self.weights:
            raise ConfigError("weights: must be 'imagenet', 'random' or a file path, got ''")
        for name in ('threshold_blur_kernel', 'noise_blur_kernel', 'subpixel_window'):
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f'{name}: must be an odd number, got {getattr(self, name)}')
        if self.nms_mode == 'float' and not self.subpixel:
            raise ConfigError("nms_mode: 'float' ranks keypoints by the float saliency; it needs "
                              'subpixel: true')
        if (self.input_width == 0) != (self.input_height == 0):
            raise ConfigError(
                'input_width/input_height: give both (resize) or both 0 (native), got '
                f'{self.input_width}x{self.input_height}')
        smallest_side = min(self.input_width, self.input_height)
        if smallest_side and 2 * self.border + 1 > smallest_side:
            raise ConfigError(
                f'border: {self.border} leaves no pixel of the {self.input_width}x'
                f'{self.input_height} network input; at most {(smallest_side - 1) // 2}')
        if self.input_long_side and 2 * self.border + 1 > self.input_long_side:
            raise ConfigError(
                f'border: {self.border} leaves no pixel of a network input whose long side is '
                f'{self.input_long_side}; at most {(self.input_long_side - 1) // 2}')
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(
                f"device: allowed 'auto', 'cpu', 'cuda', 'cuda:N'; got {self.device!r}")
        if self.exported_model and self.runtime not in ENGINE_RUNTIMES + ('auto',):
            raise ConfigError(
                f'exported_model: an ONNX file needs runtime {", ".join(ENGINE_RUNTIMES)} or '
                f'auto, got runtime {self.runtime!r}')
        if self.orientation != 'upright' and self.exported_model:
            raise ConfigError(
                f'orientation: {self.orientation!r} runs the torch network on rotated copies; an '
                'exported_model has none: use orientation upright or no exported_model')
        _check_layers(self)
        return self

    def replace(self, **changes: Any) -> 'DetectorConfig':
        """Copy with changes, rejecting unknown field names."""
        unknown = sorted(set(changes) - set(FIELD_SPECS))
        if unknown:
            raise ConfigError(f'unknown field(s) {unknown}; allowed: {sorted(FIELD_SPECS)}')
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> 'DetectorConfig':
        """Build from a dict (e.g. parsed YAML), rejecting unknown keys; validated."""
        return cls().replace(**dict(values)).validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (for YAML, JSON and ROS parameters)."""
        return asdict(self)


FIELD_SPECS: dict[str, FieldSpec] = {
    f.name: f.metadata['spec'] for f in fields(DetectorConfig)}
FIELD_TYPES: dict[str, type] = {
    'bool': bool, 'int': int, 'float': float, 'str': str}
RUNTIME_FIELDS = frozenset(n for n, s in FIELD_SPECS.items() if s.runtime)
# The Python type of each field (bool, int, float or str), from the dataclass.
FIELD_KINDS: dict[str, type] = {
    f.name: FIELD_TYPES[f.type if isinstance(f.type, str) else f.type.__name__]
    for f in fields(DetectorConfig)}
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0')


def parse_typed(name: str, text: str, kind: type) -> Any:
    """
    Read command-line text as a value of `kind` (bool, int, float or str) for `name`.

    Booleans accept true/false, yes/no, on/off, 1/0 (any case) and nothing else, so a typo is
    an error rather than a silent False. ConfigError naming `name` and the accepted values.
    """
    value = text.strip()
    if kind is bool:
        if value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f'{name}: expected true or false (or yes/no, on/off, 1/0), '
                          f'got {text!r}')
    if kind is str:
        return value
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f'{name}: expected {kind.__name__}, got {text!r}') from None


def parse_field(name: str, text: str) -> Any:
    """
    Typed value of detector field `name` from text, checked against its choices and range.

    ConfigError naming the field and the accepted values (or, for an unknown name, the fields).
    """
    if name not in FIELD_SPECS:
        raise ConfigError(f'unknown detector field {name!r}; allowed: ' + ', '.join(FIELD_SPECS))
    value = parse_typed(name, text, FIELD_KINDS[name])
    _check_field(name, value, FIELD_KINDS[name])
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` of a detector field, typed (see parse_field); ConfigError otherwise."""
    name, sep, value = text.partition('=')
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f'expected NAME=VALUE, got {text!r}')
    return name, parse_field(name, value)


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Typed detector-config changes from ['nms_radius=4', 'subpixel=true', ...]."""
    return dict(parse_assignment(item) for item in items)


def _check_field(name: str, value: Any, type_name: Any) -> None:
    spec = FIELD_SPECS[name]
    want = FIELD_TYPES[type_name if isinstance(type_name, str) else type_name.__name__]
    ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(f'{name}: expected {want.__name__}, got {value!r}')
    if spec.choices and value not in spec.choices:
        raise ConfigError(f'{name}: allowed {spec.allowed()}; got {value!r}')
    if spec.minimum is not None and value < spec.minimum or (
            spec.maximum is not None and value > spec.maximum):
        raise ConfigError(f'{name}: allowed {spec.allowed()}; got {value!r}')


def _check_backbone(backbone: str) -> None:
    if backbone in BACKBONES:
        return
    if backbone.startswith(TORCHVISION_PREFIX) and len(backbone) > len(TORCHVISION_PREFIX):
        return
    raise ConfigError(f'backbone: allowed {backbone_choices()}; got {backbone!r}')


def _check_layers(cfg: DetectorConfig) -> None:
    """Taps must name layers of the backbone's table (torchvision graphs are checked at build)."""
    if cfg.detection_layer and ',' in cfg.detection_layer:
        raise ConfigError(f'detection_layer: one layer only, got {cfg.detection_layer!r}')
    if cfg.description_layer and not split_layers(cfg.description_layer):
        raise ConfigError(f'description_layer: no layer named in {cfg.description_layer!r}')
    spec = BACKBONES.get(cfg.backbone)
    if spec is None:
        return
    allowed = spec.layer_names()
    for name in ('detection_layer', 'description_layer'):
        for value in split_layers(getattr(cfg, name)):
            if value not in allowed:
                raise ConfigError(
                    f'{name}: unknown layer {value!r} for {cfg.backbone}; allowed: '
                    + ', '.join(allowed))
