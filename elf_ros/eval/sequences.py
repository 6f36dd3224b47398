"""
Image sequences with ground-truth camera poses and intrinsics, for the relative-pose benchmark.

Three folder layouts are read (``load_sequence`` tells them apart by their files):

- KITTI odometry: ``image_l/`` (or ``image_0/``) PNGs, ``poses.txt`` (one 3x4 row-major
  T_world<-cam0 per frame), ``calib.txt`` (rows ``P0: ...`` or bare 12 numbers; K = P0[:, :3]).
- TUM RGB-D: ``<timestamp>.png`` frames and ``groundtruth.txt`` associated per frame
  (``rgb_ts file gt_ts tx ty tz qx qy qz qw``, T_world<-camera), intrinsics and distortion of
  the Freiburg camera named in the folder (fr1/fr2/fr3; fr2 otherwise) or from ``camera.txt``.
- Generic (any user's sequence): ``images/`` (frames sorted by name), ``poses.txt`` as KITTI's,
  and ``camera.txt``: ``fx fy cx cy`` optionally followed by OpenCV distortion
  ``k1 k2 p1 p2 [k3]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from elf_ros.core import ConfigError, parse_assignments

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.ppm', '.pgm', '.bmp')
# Freiburg RGB calibrations (TUM RGB-D site): fx fy cx cy, plumb_bob k1 k2 p1 p2 k3.
TUM_CAMERAS = {
    'fr1': ((517.306408, 516.469215, 318.643040, 255.313989),
            (0.262383, -0.953104, -0.005358, 0.002628, 1.163314)),
    'fr2': ((520.908620, 521.007327, 325.141442, 249.701764),
            (0.231222, -0.784899, -0.003257, -0.000105, 0.917205)),
    'fr3': ((535.4, 539.2, 320.1, 247.6), (0.0, 0.0, 0.0, 0.0, 0.0)),
}


class SequenceError(ValueError):
    """A sequence folder cannot be read; the message says which file and why."""


@dataclass
class Sequence:
    """Frames with poses T_world<-camera (N, 4, 4), pinhole matrix K and OpenCV distortion."""

    name: str
    frames: list[Path]
    poses: np.ndarray
    camera_matrix: np.ndarray
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(5))

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.poses):
            raise SequenceError(f'{self.name}: {len(self.frames)} frames but '
                                f'{len(self.poses)} poses')
        if len(self.frames) < 2:
            raise SequenceError(f'{self.name}: needs at least 2 frames')

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        """Frame as stored: gray stays gray (uint8), colour becomes RGB."""
        img = cv2.imread(str(self.frames[index]), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise SequenceError(f'cannot read image {self.frames[index]}')
        if img.dtype != np.uint8:
            img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
        return img

    def relative_pose(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(R, t) mapping camera-i coordinates to camera-j: x_j = R x_i + t."""
        rel = np.linalg.inv(self.poses[j]) @ self.poses[i]
        return rel[:3, :3], rel[:3, 3]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _homogeneous(rows: np.ndarray) -> np.ndarray:
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = rows.reshape(-1, 3, 4)
    return poses


def read_kitti_poses(path: Path) -> np.ndarray:
    """KITTI poses.txt: one 3x4 row-major matrix per line -> (N, 4, 4)."""
    try:
        rows = np.loadtxt(path, ndmin=2)
    except ValueError as err:
        raise SequenceError(f'{path}: {err}') from err
    if rows.shape[1] != 12:
        raise SequenceError(f'{path}: expected 12 numbers per line (3x4), got {rows.shape[1]}')
    return _homogeneous(rows)


def read_kitti_calib(path: Path, camera: str = 'P0') -> np.ndarray:
    """K of one camera from calib.txt ('P0: ...' lines, or bare lines in P0, P1, ... order)."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    for index, parts in enumerate(lines):
        named = parts[0].endswith(':')
        if (named and parts[0][:-1] == camera) or (not named and f'P{index}' == camera):
            values = np.array(parts[1:] if named else parts, dtype=float)
            if values.size != 12:
                raise SequenceError(f'{path}: {camera} needs 12 numbers, got {values.size}')
            return values.reshape(3, 4)[:, :3]
    raise SequenceError(f'{path}: no {camera} line')


def read_camera_txt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """camera.txt: fx fy cx cy [k1 k2 p1 p2 [k3]] -> (K, distortion of 5)."""
    values = np.array(path.read_text().split(), dtype=float)
    if values.size not in (4, 8, 9):
        raise SequenceError(f'{path}: expected fx fy cx cy [k1 k2 p1 p2 [k3]], '
                            f'got {values.size} numbers')
    fx, fy, cx, cy = values[:4]
    dist = np.zeros(5)
    dist[:values.size - 4] = values[4:]
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]), dist


def quaternion_matrix(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """Rotation matrix of a (normalised) Hamilton quaternion."""
    q = np.array([qw, qx, qy, qz], dtype=float)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def load_kitti(folder: Path) -> Sequence:
    image_dir = next((folder / d for d in ('image_l', 'image_0') if (folder / d).is_dir()), None)
    if image_dir is None:
        raise SequenceError(f'{folder}: no image_l/ or image_0/ folder')
    return Sequence(folder.name, _images(image_dir), read_kitti_poses(folder / 'poses.txt'),
                    read_kitti_calib(folder / 'calib.txt'))


def load_tum(folder: Path) -> Sequence:
    frames, poses = [], []
    for line in (folder / 'groundtruth.txt').read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith('#'):
            continue
        if len(parts) != 10:
            raise SequenceError(f'{folder / "groundtruth.txt"}: expected rgb_ts file gt_ts tx ty '
                                f'tz qx qy qz qw, got {line!r}')
        pose = np.eye(4)
        pose[:3, :3] = quaternion_matrix(*map(float, parts[6:10]))
        pose[:3, 3] = [float(v) for v in parts[3:6]]
        frames.append(folder / Path(parts[1]).name)
        poses.append(pose)
    if (folder / 'camera.txt').is_file():
        matrix, dist = read_camera_txt(folder / 'camera.txt')
    else:
        key = next((k for k in TUM_CAMERAS if k in folder.name or
                    f'freiburg{k[2]}' in folder.name), 'fr2')
        (fx, fy, cx, cy), coeffs = TUM_CAMERAS[key]
        matrix, dist = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]), np.array(coeffs)
    return Sequence(folder.name, frames, np.array(poses).reshape(-1, 4, 4), matrix, dist)


def load_generic(folder: Path) -> Sequence:
    image_dir = folder / 'images'
    if not image_dir.is_dir():
        raise SequenceError(f'{folder}: no images/ folder')
    matrix, dist = read_camera_txt(folder / 'camera.txt')
    return Sequence(folder.name, _images(image_dir), read_kitti_poses(folder / 'poses.txt'),
                    matrix, dist)


def load_sequence(path: str | Path) -> Sequence:
    """Read a KITTI, TUM or generic sequence folder (see the module docstring)."""
    folder = Path(path)
    if not folder.is_dir():
        raise SequenceError(f'{folder}: not a folder')
    if (folder / 'calib.txt').is_file() and (folder / 'poses.txt').is_file():
        return load_kitti(folder)
    if (folder / 'groundtruth.txt').is_file():
        return load_tum(folder)
    if (folder / 'camera.txt').is_file() and (folder / 'poses.txt').is_file():
        return load_generic(folder)
    raise SequenceError(f'{folder}: not a sequence folder (KITTI: calib.txt + poses.txt; TUM: '
                        'groundtruth.txt; generic: images/ + poses.txt + camera.txt)')


# Sequence benchmarks run ELF at the frames' native size and aspect ratio (KITTI is 1226x370).
NATIVE = {'input_width': 0, 'input_height': 0, 'input_long_side': 0}


def sequences_and_overrides(paths: list[str], elf_set: list[str]
                            ) -> tuple[list[Sequence], dict[str, Any]]:
    """
    Load the sequence folders and the ELF field changes a sequence benchmark runs with.

    The changes are NATIVE plus ``--elf-set`` FIELD=VALUE items (typed by the core's parser).
    Raises ValueError with the message a command line prints.
    """
    try:
        sequences = [load_sequence(p) for p in paths]
    except (SequenceError, OSError) as err:
        raise ValueError(str(err)) from err
    try:
        return sequences, {**NATIVE, **parse_assignments(elf_set)}
    except ConfigError as err:
        raise ValueError(f'--elf-set: {err}') from err
