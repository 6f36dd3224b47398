"""
Image pairs with ground-truth homographies: HPatches, Oxford affine, synthetic and sweeps.

Every pair is delivered already resized to the evaluation size (640x480 by default, as in the
paper) with its homography corrected, so methods and metrics only ever see that frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Callable, Iterator

import cv2
import numpy as np

from elf_ros.eval.geometry import (
    about_centre,
    resize_homography,
    rotation_homography,
    scale_homography,
    Size,
)

EVAL_SIZE: Size = (640, 480)
ROTATION_ANGLES = (10, 50, 90, 130, 170, 210)
SCALE_FACTORS = (1.25, 1.5, 1.75, 2.0)
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.ppm', '.pgm', '.bmp', '.tif', '.tiff')
# scikit-image's bundled photographs of real scenes (no download needed, no drawings or scans).
SKIMAGE_PHOTOS = ('astronaut', 'camera', 'chelsea', 'coffee', 'rocket', 'stereo_motorcycle',
                  'immunohistochemistry', 'brick', 'gravel', 'moon', 'clock', 'coins')


@dataclass
class Pair:
    """Two images (uint8, gray or RGB) and H mapping pixels of image1 to image2."""

    image1: np.ndarray
    image2: np.ndarray
    homography: np.ndarray
    sequence: str
    name: str
    key1: str
    param: float | None = None

    @property
    def size1(self) -> Size:
        return self.image1.shape[1], self.image1.shape[0]

    @property
    def size2(self) -> Size:
        return self.image2.shape[1], self.image2.shape[0]


@dataclass
class PairSource:
    """A pair not loaded yet, so a dataset of hundreds of pairs costs no memory until used."""

    sequence: str
    name: str
    load: Callable[[], Pair]
    param: float | None = None


@dataclass
class Dataset:
    """
    Pairs to evaluate, loaded lazily.

    `by_change`: the sequences are real ones named after their kind of change (HPatches,
    Oxford), so their pairs are grouped by `groups.group_of`; other datasets (synthetic pairs,
    sweeps) form a group of their own, named after the dataset.
    """

    name: str
    sources: list[PairSource] = field(default_factory=list)
    param_name: str | None = None
    by_change: bool = False

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self) -> Iterator[Pair]:
        for source in self.sources:
            yield source.load()


def read_image(path: Path) -> np.ndarray:
    """Gray images stay 2-D, colour ones become RGB (the core expects RGB)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return to_uint8_rgb_or_gray(img, bgr=True)


def to_uint8_rgb_or_gray(img: np.ndarray, bgr: bool = False) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = cv2.normalize(img.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3 and bgr:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def resize_image(img: np.ndarray, size: Size | None) -> np.ndarray:
    if size is None or (img.shape[1], img.shape[0]) == tuple(size):
        return img
    return cv2.resize(img, tuple(size), interpolation=cv2.INTER_LINEAR)


def make_pair(img1: np.ndarray, img2: np.ndarray, h: np.ndarray, size: Size | None,
              sequence: str, name: str, key1: str, param: float | None = None) -> Pair:
    """Resize both images to `size` (None keeps them) and correct H the way the paper does."""
    if size is not None:
        h = resize_homography(h, (img1.shape[1], img1.shape[0]), (img2.shape[1], img2.shape[0]),
                              size)
    return Pair(resize_image(img1, size), resize_image(img2, size), np.asarray(h, np.float64),
                sequence, name, key1, param)


def _sequence_pairs(seq_dir: Path, image_glob: str, h_name: Callable[[int], str],
                    size: Size | None) -> list[PairSource]:
    """Image 1 against 2..6 of one sequence folder (shared by the HPatches and Oxford layouts)."""
    images = {}
    for path in seq_dir.glob(image_glob):
        digits = re.findall(r'\d+', path.stem)
        if path.suffix.lower() in IMAGE_SUFFIXES and digits:
            images[int(digits[-1])] = path
    sources = []
    for k in sorted(images):
        h_path = seq_dir / h_name(k)
        if k == 1 or 1 not in images or not h_path.is_file():
            continue

        def load(p1: Path = images[1], p2: Path = images[k], hp: Path = h_path,
                 k: int = k) -> Pair:
            return make_pair(read_image(p1), read_image(p2), np.loadtxt(hp), size,
                             seq_dir.name, f'1-{k}', f'{seq_dir.name}/1')
        sources.append(PairSource(seq_dir.name, f'1-{k}', load))
    return sources


def _sequence_dirs(root: Path, is_sequence: Callable[[Path], bool]) -> list[Path]:
    """`root` itself if it is one sequence, else its sequence subfolders (sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f'dataset folder not found: {root}')
    if is_sequence(root):
        return [root]
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and is_sequence(d))
    if not dirs:
        raise FileNotFoundError(f'no sequence in the expected layout under {root}')
    return dirs


def load_hpatches(root: Path, size: Size | None = EVAL_SIZE) -> Dataset:
    """HPatches sequences: folders i_*/v_* holding 1.ppm..6.ppm and H_1_2..H_1_6."""
    dirs = _sequence_dirs(root, lambda d: (d / 'H_1_2').is_file())
    sources = [s for d in dirs for s in _sequence_pairs(d, '[0-9]*.*', lambda k: f'H_1_{k}', size)]
    return Dataset(Path(root).name, sources, by_change=True)


def load_oxford(root: Path, size: Size | None = EVAL_SIZE) -> Dataset:
    """Oxford affine layout: img1..img6 (any image format) and H1to2p..H1to6p (not normalised)."""
    dirs = _sequence_dirs(root, lambda d: (d / 'H1to2p').is_file())
    sources = [s for d in dirs for s in _sequence_pairs(d, 'img*', lambda k: f'H1to{k}p', size)]
    return Dataset(Path(root).name, sources, by_change=True)


def folder_images(folder: Path) -> list[tuple[str, np.ndarray]]:
    """Every readable image in a folder (sorted by name), as (stem, image)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f'no images in {folder}')
    return [(p.stem, read_image(p)) for p in paths]


def skimage_photographs(names: tuple[str, ...] = SKIMAGE_PHOTOS) -> list[tuple[str, np.ndarray]]:
    """Load the photographs bundled with scikit-image (offline), as (name, image)."""
    import skimage.data

    out = []
    for name in names:
        img = getattr(skimage.data, name)()
        out.append((name, to_uint8_rgb_or_gray(img[0] if isinstance(img, tuple) else img)))
    return out


def random_homography(rng: np.random.Generator, size: Size, max_angle: float = 25.0,
                      scale_range: tuple[float, float] = (0.8, 1.25),
                      corner_jitter: float = 0.12) -> np.ndarray:
    """
    Draw a plausible camera motion: rotation and zoom about the centre, then perspective jitter.

    The jitter moves each corner by up to `corner_jitter` of the image size; the result is
    rejected and redrawn until it keeps the image convex and orientation-preserving.
    """
    width, height = size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    while True:
        angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
        scale = rng.uniform(*scale_range)
        sim = np.array([[scale * np.cos(angle), scale * np.sin(angle), 0.0],
                        [-scale * np.sin(angle), scale * np.cos(angle), 0.0], [0, 0, 1.0]])
        jitter = rng.uniform(-corner_jitter, corner_jitter, (4, 2)) * np.array([width, height])
        persp = cv2.getPerspectiveTransform(corners, (corners + jitter).astype(np.float32))
        h = about_centre(sim, size) @ persp
        moved = cv2.perspectiveTransform(corners[None], h)[0]
        if cv2.isContourConvex(moved.astype(np.float32)) and np.linalg.det(h[:2, :2]) > 0:
            return h / h[2, 2]


def photometric_change(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gain, bias, gamma, slight blur and sensor noise, like a second exposure of the scene."""
    out = img.astype(np.float32) / 255.0
    out = np.clip(out ** rng.uniform(0.7, 1.4), 0, 1)
    out = out * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
    sigma = rng.uniform(0.0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out = out + rng.normal(0.0, rng.uniform(0.0, 0.02), out.shape)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def warp(img: np.ndarray, h: np.ndarray, size: Size) -> np.ndarray:
    """Warp by H; reflected borders so the image edge does not create fake corners inside."""
    return cv2.warpPerspective(img, h, tuple(size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)


def synthetic_pairs(images: list[tuple[str, np.ndarray]], pairs_per_image: int = 2,
                    seed: int = 0, size: Size = EVAL_SIZE, name: str = 'synthetic') -> Dataset:
    """Seeded random homography + photometric change of each photograph (resized to `size`)."""
    sources = []
    for index, (stem, img) in enumerate(images):
        for k in range(pairs_per_image):
            def load(img: np.ndarray = img, stem: str = stem, k: int = k,
                     index: int = index) -> Pair:
                rng = np.random.default_rng([seed, index, k])
                base = resize_image(img, size)
                h = random_homography(rng, size)
                target = warp(photometric_change(base, rng), h, size)
                return Pair(base, target, h, stem, f'{stem}-{k}', f'{stem}/base')
            sources.append(PairSource(stem, f'{stem}-{k}', load))
    return Dataset(name, sources)


def _sweep(images: list[tuple[str, np.ndarray]], values: tuple[float, ...], size: Size,
           make_h: Callable[[float, Size], np.ndarray], name: str, param: str) -> Dataset:
    sources = []
    for stem, img in images:
        for value in values:
            def load(img: np.ndarray = img, stem: str = stem, value: float = value) -> Pair:
                base = resize_image(img, size)
                h = make_h(value, size)
                return Pair(base, warp(base, h, size), h, stem, f'{stem}-{value:g}',
                            f'{stem}/base', float(value))
            sources.append(PairSource(stem, f'{stem}-{value:g}', load, float(value)))
    return Dataset(name, sources, param_name=param)


def rotation_sweep(images: list[tuple[str, np.ndarray]], angles: tuple[float, ...] =
                   ROTATION_ANGLES, size: Size = EVAL_SIZE) -> Dataset:
    """Pair each image with itself rotated by each angle (the paper's rotation test)."""
    return _sweep(images, angles, size, rotation_homography, 'rotation', 'angle (deg)')


def scale_sweep(images: list[tuple[str, np.ndarray]], scales: tuple[float, ...] = SCALE_FACTORS,
                size: Size = EVAL_SIZE) -> Dataset:
    """Pair each image with itself zoomed by each factor (the paper's scale test)."""
    return _sweep(images, scales, size, scale_homography, 'scale', 'scale factor')
