"""
Sub-pixel refinement of matched keypoints with pyramidal Lucas-Kanade (detector-agnostic).

Why: a descriptor match pairs two detections, each carrying its detector's localisation error
(ELF's saliency peaks are broad: median 1.6 px on the shared pairs). For small-baseline motion,
the image itself says where the point of frame 1 went: starting from the matched position in
frame 2, LK moves it to where the patch around the frame-1 keypoint fits best. Measured on
kitti00_turn (19 pairs at k = 1): the share of correspondences within 1 px of the true epipolar
line goes from 0.66 to 0.97. A translation-only window cannot follow strong rotation or zoom, so
the refinement drops a match whose position moves further than ``max_shift`` instead of trusting
it; on wide-baseline homographies it mostly drops matches (see docs/motion.md).

The frame-1 keypoint stays where the detector put it: only the frame-2 position changes, which is
what a tracker needs too (the track's last position is fixed, the new one is searched).

Rotation and zoom: given a local linear map per match (``affines``, e.g. from an estimated
homography: ``affines_from_homography``), frame 1's patch is
first warped into frame 2's geometry, and LK then only has to find the remaining translation. All
patches of a pair are cut into two tile mosaics (one ``cv2.remap`` per image) and refined by one
LK call on the mosaics: no Python loop over matches.

The matcher stage (``refine_stage``) turns a descriptor ``Matches`` into matched positions,
refined or not, so the motion benchmark, elf_matcher and a tracker all refine the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import cv2
import numpy as np

from elf_ros.core.matching import Matches


@dataclass(frozen=True)
class RefineConfig:
    """LK settings; the defaults are the ones measured in the quality issue."""

    window: int = 11          # side of the square LK window, pixels (odd)
    levels: int = 2           # pyramid levels above the full image (0: full image only)
    max_shift: float = 2.0    # drop a match whose frame-2 position moves further, pixels
    iterations: int = 30      # LK iterations per level
    epsilon: float = 0.01     # LK stops when the update is below this, pixels

    def __post_init__(self) -> None:
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f'window must be an odd number >= 3, got {self.window}')
        if self.levels < 0:
            raise ValueError(f'levels must be >= 0, got {self.levels}')
        if not self.max_shift > 0:
            raise ValueError(f'max_shift must be > 0 pixels, got {self.max_shift}')


@dataclass
class Refined:
    """Refined frame-2 positions (N, 2) float32 and which matches survived (N,) bool."""

    points2: np.ndarray
    keep: np.ndarray


def as_gray_u8(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or uint16 -> (H, W) uint8."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if img.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
    if img.ndim != 2:
        raise ValueError(f'expected a grey or RGB(A) image, got shape {img.shape}')
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ValueError(f'expected uint8 or uint16 pixels, got {img.dtype}')
    return np.ascontiguousarray(img)


def same_size(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """
    Pad (H, W) ``image`` at the bottom and right to at least ``shape`` (replicated border).

    OpenCV's LK needs two frames of one size; a camera may change resolution between frames.
    """
    bottom, right = max(0, shape[0] - image.shape[0]), max(0, shape[1] - image.shape[1])
    if bottom == 0 and right == 0:
        return image
    return cv2.copyMakeBorder(image, 0, bottom, 0, right, cv2.BORDER_REPLICATE)


def refine_matches(image1: np.ndarray, image2: np.ndarray, points1: np.ndarray,
                   points2: np.ndarray, config: RefineConfig = RefineConfig(),
                   affines: np.ndarray | None = None) -> Refined:
    """
    Move each matched frame-2 position to where frame 1's patch around ``points1`` fits best.

    image1, image2: the two frames, (H, W) grey or (H, W, 3) RGB, uint8/uint16, any sizes
    (the smaller is padded; points must lie inside their own frame to be kept).
    points1, points2: (N, 2) matched pixel positions (x, y) in image1 and image2.
    affines: optional (N, 2, 2) local linear maps from frame-1 offsets to frame-2 offsets
    (d2 = A @ d1); frame 1's patch is warped by it before LK (rotation, zoom).
    Returns the refined (N, 2) float32 frame-2 positions and ``keep``: LK converged, stayed
    inside image2 and moved at most ``config.max_shift`` pixels. Rows not kept hold the input
    position. One OpenCV LK call for all N points.
    """
    p1 = np.asarray(points1, np.float32).reshape(-1, 2)
    p2 = np.asarray(points2, np.float32).reshape(-1, 2)
    if len(p1) != len(p2):
        raise ValueError(f'points1 and points2 differ in length: {len(p1)} vs {len(p2)}')
    if len(p1) == 0:
        return Refined(np.zeros((0, 2), np.float32), np.zeros(0, bool))
    g1, g2 = as_gray_u8(image1), as_gray_u8(image2)
    h, w = g2.shape
    g2 = same_size(g2, g1.shape)
    g1 = same_size(g1, g2.shape)
    if affines is None:
        moved, status = _lk(g1, g2, p1, p2, config)
    else:
        a = np.asarray(affines, np.float64).reshape(-1, 2, 2)
        if len(a) != len(p1):
            raise ValueError(f'affines must be ({len(p1)}, 2, 2), got {np.shape(affines)}')
        moved, status = _warped_lk(g1, g2, p1, p2, a, config)
    inside = ((moved[:, 0] >= 0) & (moved[:, 0] <= w - 1)
              & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1))
    finite = np.isfinite(moved).all(axis=1)
    shift = np.linalg.norm(np.where(finite[:, None], moved - p2, np.inf), axis=1)
    keep = (status.reshape(-1) == 1) & finite & inside & (shift <= config.max_shift)
    return Refined(np.where(keep[:, None], moved, p2).astype(np.float32), keep)


def _lk(g1: np.ndarray, g2: np.ndarray, p1: np.ndarray, p2: np.ndarray,
        config: RefineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal LK from p1 in g1, starting at p2 in g2: (N, 2) positions and (N,) status."""
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, config.iterations, config.epsilon)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        g1, g2, p1.reshape(-1, 1, 2), p2.reshape(-1, 1, 2).copy(),
        winSize=(config.window, config.window), maxLevel=config.levels, criteria=criteria,
        flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    return moved.reshape(-1, 2), status.reshape(-1)


# Patches are already warped into frame 2's geometry and the start is within max_shift, so one
# pyramid level above the tiles is enough; more would only make every tile larger.
MOSAIC_LEVELS = 1


def tile_side(config: RefineConfig) -> int:
    """Side of one mosaic tile: the LK window plus the search margin at the coarsest level."""
    levels = min(config.levels, MOSAIC_LEVELS)
    return int((config.window + 2 * math.ceil(config.max_shift) + 6) * 2 ** levels)


def _mosaic_maps(points: np.ndarray, linear: np.ndarray, side: int,
                 columns: int) -> tuple[np.ndarray, np.ndarray]:
    """
    remap() maps of a tile mosaic: tile k samples ``points[k] + linear[k] @ u``.

    points (N, 2), linear (N, 2, 2), u runs over the tile's pixel offsets from its centre.
    Returns map_x, map_y of shape (rows * side, columns * side) float32; spare tiles sample -1.
    """
    n = len(points)
    rows = -(-n // columns)
    offsets = np.arange(side, dtype=np.float32) - side // 2
    ux, uy = offsets[None, None, :], offsets[None, :, None]          # columns, rows
    lin = linear.astype(np.float32)[:, :, :, None, None]              # (N, 2, 2, 1, 1)
    pts = points.astype(np.float32)[:, :, None, None]                 # (N, 2, 1, 1)
    maps = []
    for axis in range(2):
        tiles = np.full((rows * columns, side, side), -1.0, np.float32)
        tiles[:n] = pts[:, axis] + lin[:, axis, 0] * ux + lin[:, axis, 1] * uy
        maps.append(np.ascontiguousarray(
            tiles.reshape(rows, columns, side, side).transpose(0, 2, 1, 3)
            .reshape(rows * side, columns * side)))
    return maps[0], maps[1]


def _warped_lk(g1: np.ndarray, g2: np.ndarray, p1: np.ndarray, p2: np.ndarray,
               affines: np.ndarray, config: RefineConfig) -> tuple[np.ndarray, np.ndarray]:
    """
    LK after warping frame 1's patches by their affines: two tile mosaics, one LK call.

    Tile k of the template holds I1(p1 + A^-1 u) (frame 1 in frame 2's geometry), tile k of
    the target holds I2(p2 + u); LK from the template's tile centre gives the remaining shift.
    A singular affine gives status 0.
    """
    det = np.linalg.det(affines)
    usable = np.abs(det) > 1e-6
    inverse = np.tile(np.eye(2), (len(p1), 1, 1))
    inverse[usable] = np.linalg.inv(affines[usable])
    side = tile_side(config)
    columns = max(1, math.ceil(math.sqrt(len(p1))))
    identity = np.broadcast_to(np.eye(2), inverse.shape)
    mx1, my1 = _mosaic_maps(p1.astype(np.float64), inverse, side, columns)
    mx2, my2 = _mosaic_maps(p2.astype(np.float64), identity, side, columns)
    template = cv2.remap(g1, mx1, my1, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    target = cv2.remap(g2, mx2, my2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    index = np.arange(len(p1))
    centres = np.stack([(index % columns) * side + side // 2,
                        (index // columns) * side + side // 2], axis=1).astype(np.float32)
    mosaic_config = RefineConfig(config.window, min(config.levels, MOSAIC_LEVELS),
                                 config.max_shift, config.iterations, config.epsilon)
    moved, status = _lk(template, target, centres, centres, mosaic_config)
    status = status.astype(bool) & usable
    return (p2 + (moved - centres)).astype(np.float32), status.astype(np.uint8)


def affines_from_homography(homography: np.ndarray, points1: np.ndarray) -> np.ndarray:
    """
    (N, 2, 2) Jacobians of the homography (3, 3) at points1 (N, 2): the local affine of each.

    For x' = (H_12 x~) / (h3 x~): J = (H[:2, :2] - x' h3[:2]) / (h3 x~).
    """
    h = np.asarray(homography, np.float64)
    p = np.asarray(points1, np.float64).reshape(-1, 2)
    xh = np.column_stack([p, np.ones(len(p))])
    w = xh @ h[2]
    mapped = (xh @ h[:2].T) / w[:, None]
    jac = h[None, :2, :2] - mapped[:, :, None] * h[None, 2, :2][:, None, :]
    return jac / w[:, None, None]


@dataclass
class MatchedPoints:
    """The matcher's output as positions: (K, 2) float32 in each frame and the (K, 2) rows."""

    points1: np.ndarray
    points2: np.ndarray
    pairs: np.ndarray
    refined: bool = False   # True when LK refined points2 (and dropped the failures)

    def __len__(self) -> int:
        return len(self.pairs)


def refine_stage(keypoints1: np.ndarray, keypoints2: np.ndarray, matches: Matches,
                 image1: np.ndarray | None = None, image2: np.ndarray | None = None,
                 config: RefineConfig | None = None) -> MatchedPoints:
    """
    Return matched keypoint positions, LK-refined when asked: the matcher's optional last stage.

    keypoints1 (N1, 2), keypoints2 (N2, 2) pixel positions; ``matches`` joins their rows. With
    a ``config`` and both images, frame-2 positions are refined (``refine_matches``) and the
    matches LK could not confirm are dropped; otherwise the positions are returned as matched.
    """
    pairs = np.asarray(matches.pairs, np.int64).reshape(-1, 2)
    p1 = np.asarray(keypoints1, np.float32).reshape(-1, 2)[pairs[:, 0]]
    p2 = np.asarray(keypoints2, np.float32).reshape(-1, 2)[pairs[:, 1]]
    if config is None or image1 is None or image2 is None:
        return MatchedPoints(p1, p2, pairs)
    out = refine_matches(image1, image2, p1, p2, config)
    return MatchedPoints(p1[out.keep], out.points2[out.keep], pairs[out.keep], refined=True)
