"""
Detectors/descriptors under evaluation, all behind one small interface.

A method turns a list of images (uint8, gray or RGB, all in the evaluation frame) into one
`Features` per image. OpenCV methods keep their `max_keypoints` strongest responses; ELF methods
go through the core API (`elf_ros.core`), so the evaluated detector is the one the ROS node runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from elf_ros.core import OPENCV_DESCRIPTORS, opencv_descriptors
from elf_ros.eval.features import Features

# name -> (OpenCV class, constructor arguments given max_keypoints). OpenCV 5 moved AKAZE, KAZE
# and BRISK to the contrib package (opencv-contrib-python-headless, module cv2.xfeatures2d).
OPENCV_METHODS: dict[str, tuple[str, Callable[[int], dict[str, int]]]] = {
    'sift': ('SIFT', lambda k: {'nfeatures': k}),
    'orb': ('ORB', lambda k: {'nfeatures': k}),
    'akaze': ('AKAZE', lambda k: {}),
    'kaze': ('KAZE', lambda k: {}),
    'brisk': ('BRISK', lambda k: {}),
}
# OpenCV descriptors the core can compute at ELF keypoints.
HYBRID_DESCRIPTORS = OPENCV_DESCRIPTORS
ELF_PREFIX = 'elf-'


class MethodUnavailableError(RuntimeError):
    """The method cannot run here (e.g. its weights are missing); the message says why."""


class Method(Protocol):
    name: str
    weights: str

    def extract(self, images: list[np.ndarray]) -> list[Features]:
        ...


def opencv_factory(cls_name: str) -> Callable[..., cv2.Feature2D]:
    """Find `<cls_name>_create` in cv2 or in the contrib module cv2.xfeatures2d."""
    for module in (cv2, getattr(cv2, 'xfeatures2d', None)):
        factory = getattr(module, f'{cls_name}_create', None)
        if factory is not None:
            return factory
    raise MethodUnavailableError(
        f'{cls_name} is not in this OpenCV {cv2.__version__} build (OpenCV 5 moved it to '
        'opencv-contrib-python-headless)')


def to_gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def strongest(keypoints: list[cv2.KeyPoint], descriptors: np.ndarray | None,
              limit: int) -> Features:
    """Sort OpenCV detections by response (descending) and keep the first `limit`."""
    if not keypoints or descriptors is None:
        return Features.empty()
    response = np.array([kp.response for kp in keypoints], dtype=np.float32)
    order = np.argsort(-response, kind='stable')[:limit]
    pts = np.array([keypoints[i].pt for i in order], dtype=np.float32)
    return Features(pts, descriptors[order], response[order])


@dataclass
class OpenCVMethod:
    """One of OpenCV's classical detector+descriptor pairs, on the grayscale image."""

    name: str
    max_keypoints: int = 500
    weights: str = 'none (hand-crafted)'

    def __post_init__(self) -> None:
        cls_name, kwargs = OPENCV_METHODS[self.name]
        self._impl = opencv_factory(cls_name)(**kwargs(self.max_keypoints))

    def extract(self, images: list[np.ndarray]) -> list[Features]:
        out = []
        for img in images:
            kps, desc = self._impl.detectAndCompute(to_gray(img), None)
            out.append(strongest(list(kps), desc, self.max_keypoints))
        return out


def describe_keypoints(image: np.ndarray, features: Features, descriptor: str) -> Features:
    """
    Describe ELF keypoints with an OpenCV descriptor through the core's helper (upright).

    OpenCV drops keypoints it cannot describe (ORB near the border); the survivors keep their
    detector order and scores.
    """
    if len(features) == 0:
        return Features.empty()
    rows, desc = opencv_descriptors(image, features.keypoints, descriptor)
    if len(rows) == 0:
        return Features.empty()
    order = np.argsort(rows, kind='stable')
    rows = rows[order]
    scores = None if features.scores is None else features.scores[rows]
    return Features(features.keypoints[rows], desc[order], scores)


class ElfMethod:
    """
    An ELF preset run through the core detector exactly as the node would run it.

    The presets already use the paper's 640x480 network input; keypoints come back in the
    evaluated image's frame whatever its size.
    """

    def __init__(self, preset: str, max_keypoints: int = 500, device: str = 'auto',
                 weights_path: str | None = None, descriptor: str | None = None,
                 overrides: dict[str, object] | None = None) -> None:
        from elf_ros.core import ConfigError, ElfDetector, load_preset

        self.name = ELF_PREFIX + preset + (f'+{descriptor}' if descriptor else '')
        self.descriptor = descriptor
        changes: dict[str, object] = {'max_keypoints': max_keypoints, 'device': device,
                                      **(overrides or {})}
        if weights_path:
            if not Path(weights_path).is_file():
                raise MethodUnavailableError(f'weights file not found: {weights_path}')
            changes['weights'] = str(weights_path)
        try:
            self.detector = ElfDetector(load_preset(preset, **changes))
        except ConfigError as exc:  # also WeightsError: published weights not available here
            hint = f' With elf-eval: --weights {preset}=FILE.' if 'weights' in str(exc) else ''
            raise MethodUnavailableError(f'{exc}{hint}') from exc
        self.config = self.detector.config
        self.weights = f'{self.config.backbone}: {weights_label(self.config.weights)}'

    def extract(self, images: list[np.ndarray]) -> list[Features]:
        results = self.detector.detect(images)
        out = []
        for img, r in zip(images, results, strict=True):
            feats = Features(r.keypoints, r.descriptors, r.scores, r.upright_descriptors)
            out.append(describe_keypoints(img, feats, self.descriptor) if self.descriptor
                       else feats)
        return out


def weights_label(weights: str) -> str:
    """Say where the weights came from without printing long local paths."""
    if weights in ('imagenet', 'random'):
        return {'imagenet': 'ImageNet (published)', 'random': 'random (seeded)'}[weights]
    return f'file {Path(weights).name}'


def method_names() -> list[str]:
    """Every method spelling the CLI accepts (ELF presets come from the core)."""
    names = list(OPENCV_METHODS)
    try:
        from elf_ros.core import PRESETS
    except ImportError:
        return names
    for preset in PRESETS:
        names.append(ELF_PREFIX + preset)
        names.extend(f'{ELF_PREFIX}{preset}+{d}' for d in HYBRID_DESCRIPTORS)
    return names


def matches_pattern(name: str, pattern: str) -> bool:
    """Match a name by fnmatch; ELF keypoints with OpenCV descriptors ('+sift') only on request."""
    return fnmatchcase(name, pattern) and ('+' in pattern or '+' not in name)


def expand_methods(specs: list[str], names: list[str] | None = None) -> list[str]:
    """
    Expand patterns such as 'elf-*' over the known method names, keeping the order given.

    A pattern that matches nothing is kept as written, so the run reports it as not run.
    """
    names = method_names() if names is None else names
    out: list[str] = []
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        if any(c in spec for c in '*?['):
            out.extend([n for n in names if matches_pattern(n, spec)] or [spec])
        else:
            out.append(spec)
    return list(dict.fromkeys(out))


def weights_for(preset: str, weights: dict[str, str]) -> str | None:
    """
    Find a preset's local weights file: by preset name, else by its backbone.

    `--weights vgg19=FILE` thus serves every preset built on vgg19; a preset with seeded
    random weights (a control) never picks up a file meant for its backbone.
    """
    if preset in weights:
        return weights[preset]
    try:
        from elf_ros.core import PRESETS
    except ImportError:
        return None
    fields = PRESETS.get(preset, {})
    if fields.get('weights') == 'random':
        return None
    return weights.get(str(fields.get('backbone', '')).lower())


def build_method(spec: str, max_keypoints: int = 500, device: str = 'auto',
                 weights: dict[str, str] | None = None,
                 elf_overrides: dict[str, object] | None = None) -> Method:
    """
    Make a method from its name: 'sift', 'orb', ..., 'elf-<preset>' or 'elf-<preset>+sift'.

    `weights` maps a preset or backbone name to a local weights file (see `weights_for`), for
    the backbones whose published weights cannot be downloaded here; `elf_overrides` changes
    detector-config fields of every ELF method. Raises MethodUnavailableError with the reason.
    """
    spec = spec.strip().lower()
    if spec in OPENCV_METHODS:
        return OpenCVMethod(spec, max_keypoints)
    if not spec.startswith(ELF_PREFIX):
        choices = ', '.join(method_names())
        raise MethodUnavailableError(f'unknown method {spec!r}; choose from {choices}')
    preset, _, descriptor = spec[len(ELF_PREFIX):].partition('+')
    if descriptor and descriptor not in HYBRID_DESCRIPTORS:
        choices = ', '.join(HYBRID_DESCRIPTORS)
        raise MethodUnavailableError(f'unknown descriptor {descriptor!r} for ELF keypoints; '
                                     f'choose from {choices}')
    return ElfMethod(preset, max_keypoints, device, weights_for(preset, weights or {}),
                     descriptor or None, elf_overrides)
