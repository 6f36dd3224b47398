"""
Feature tracks from per-frame detections: persistent ids, a budget and spacing like VINS's.

Why: a VO/SLAM back end (VINS-Mono/Fusion) triangulates and optimises over the frames in which
a feature id appears, so detections must be linked into tracks. Each frame is matched with the
previous one's living tracks (core matcher, mutual nearest neighbours on the track's latest
descriptor), the matched positions are optionally refined with pyramidal LK from the track's
last position (core/refine.py), and a fundamental-matrix RANSAC on undistorted pixels drops
matches off the epipolar geometry (VINS's ``rejectWithF``, ``F_THRESHOLD`` pixels). A track
whose point was not matched (not re-detected, or its match rejected) may go on by pyramidal LK
alone for up to ``bridge`` frames (VINS's own tracking step, with its forward-backward check),
keeping its last descriptor, so one missed detection does not end it. Then, as
VINS's ``setMask``: continuing tracks, longest first, keep their place unless a longer track lies
within ``min_distance`` pixels; unmatched detections, strongest first, start new tracks where no
kept point lies within ``min_distance``, until ``max_tracks`` (``MAX_CNT``) are alive. A track
without a match this frame ends, and its id is never given again.

Velocities follow VINS-Fusion's ``ptsVelocity``: the change of the undistorted normalised
coordinates (z = 1 plane) since the previous frame divided by the time between the two frames,
in 1/s; zero for a new track and on the first frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math

import cv2
import numpy as np

from elf_ros.core.camera_model import CameraModel
from elf_ros.core.matching import match_descriptors
from elf_ros.core.refine import as_gray_u8, refine_matches, RefineConfig

MIN_F_POINTS = 8  # findFundamentalMat's minimum (as VINS's rejectWithF)


@dataclass(frozen=True)
class TrackerConfig:
    """Track-manager settings; defaults are VINS-Fusion's shipped configs where they exist."""

    max_tracks: int = 150          # VINS max_cnt: living tracks per frame
    min_distance: float = 30.0     # VINS min_dist: pixels between two tracked points
    f_threshold: float = 1.0       # VINS F_threshold: F-RANSAC inlier distance, pixels; 0 = off
    f_confidence: float = 0.99     # RANSAC confidence (VINS: 0.99)
    refine: bool = True            # LK refinement of matched positions (needs the images)
    refine_config: RefineConfig = field(default_factory=RefineConfig)
    ratio: float = 1.0             # Lowe's ratio on top of mutual NN; 1 = off
    max_descriptor_distance: float = math.inf
    border: int = 1                # VINS inBorder: pixels kept clear of the image edge
    bridge: int = 2                # frames a track may go on by LK without a matched detection
    tail: int = 10                 # past positions kept per track (for drawing)
    device: str = 'cpu'            # torch device of the matcher

    def __post_init__(self) -> None:
        if self.max_tracks < 1:
            raise ValueError(f'max_tracks must be at least 1, got {self.max_tracks}')
        if self.min_distance < 0 or self.f_threshold < 0 or self.border < 0:
            raise ValueError('min_distance, f_threshold and border must be >= 0, got '
                             f'{self.min_distance}, {self.f_threshold}, {self.border}')
        if not 0 < self.f_confidence < 1:
            raise ValueError(f'f_confidence must be in (0, 1), got {self.f_confidence}')
        if not 0 < self.ratio <= 1:
            raise ValueError(f'ratio must be in (0, 1], got {self.ratio}')
        if self.bridge < 0:
            raise ValueError(f'bridge must be >= 0, got {self.bridge}')
        if self.tail < 1:
            raise ValueError(f'tail must be at least 1, got {self.tail}')


@dataclass
class TrackFrame:
    """The tracks alive in one frame, row k = one track (M rows)."""

    stamp: float                # seconds
    ids: np.ndarray             # (M,) int64, persistent track ids
    pixels: np.ndarray          # (M, 2) float32 image position (x, y)
    normalised: np.ndarray      # (M, 2) float64 undistorted coordinates on z = 1
    velocities: np.ndarray      # (M, 2) float64 d(normalised)/dt, 1/s (VINS-Fusion)
    lengths: np.ndarray         # (M,) int64 frames in which the track was seen, this one included
    new: np.ndarray             # (M,) bool, the track starts in this frame
    tails: np.ndarray           # (M, tail, 2) float32 past pixels, oldest first, NaN-padded
    retired: int = 0            # tracks that ended in this frame
    matched: int = 0            # descriptor matches before refinement and RANSAC

    def __len__(self) -> int:
        return len(self.ids)


def spread_select(points: np.ndarray, min_distance: float, limit: int) -> np.ndarray:
    """
    Keep points in row order unless a kept earlier point lies within ``min_distance``.

    At most ``limit`` (the first ones kept). Same result as VINS's mask of
    circles drawn in priority order, computed in rounds over a conflict matrix instead of a loop
    over points: each round keeps every point whose earlier conflicts are all dropped.

    points: (N, 2) in priority order. Returns kept row indices (K,), ascending.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(pts)
    if n == 0 or min_distance <= 0:
        return np.arange(min(n, limit))
    diff = pts[:, None, :] - pts[None, :, :]
    conflict = np.einsum('ijk,ijk->ij', diff, diff) < min_distance * min_distance
    np.fill_diagonal(conflict, False)
    earlier = np.tril(conflict, -1)                  # earlier[i, j]: j < i and they conflict
    state = np.zeros(n, np.int8)                     # 0 undecided, 1 kept, -1 dropped
    while (state == 0).any():
        alive = state != -1
        ready = (state == 0) & ~(earlier & alive[None, :]).any(axis=1)
        state[ready] = 1
        hit = (state == 0) & conflict[:, state == 1].any(axis=1)
        state[hit] = -1
    return np.nonzero(state == 1)[0][:limit]


def _inside(points: np.ndarray, shape: tuple[int, int] | None, border: int) -> np.ndarray:
    """VINS inBorder: the rounded position lies at least ``border`` pixels inside the image."""
    if shape is None:
        return np.ones(len(points), bool)
    h, w = shape
    r = np.rint(points)
    return ((r[:, 0] >= border) & (r[:, 0] < w - border)
            & (r[:, 1] >= border) & (r[:, 1] < h - border))


def fundamental_inliers(previous: np.ndarray, current: np.ndarray, threshold: float,
                        confidence: float = 0.99) -> np.ndarray:
    """(N,) bool: inliers of an F-RANSAC (OpenCV FM_RANSAC) between (N, 2) pixel sets."""
    n = len(previous)
    if n < MIN_F_POINTS or threshold <= 0:
        return np.ones(n, bool)
    _, mask = cv2.findFundamentalMat(np.asarray(previous, np.float64),
                                     np.asarray(current, np.float64), cv2.FM_RANSAC,
                                     threshold, confidence)
    if mask is None:                        # degenerate configuration: nothing to judge with
        return np.ones(n, bool)
    return mask.reshape(-1).astype(bool)


class TrackManager:
    """Frame-to-frame tracker over detections; one instance per camera stream."""

    def __init__(self, camera: CameraModel, config: TrackerConfig | None = None) -> None:
        self.camera = camera
        self.config = config or TrackerConfig()
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track (ids keep counting up: a retired id is never given again)."""
        self._ids = np.zeros(0, np.int64)
        self._pixels = np.zeros((0, 2), np.float32)
        self._normalised = np.zeros((0, 2), np.float64)
        self._descriptors: np.ndarray | None = None
        self._lengths = np.zeros(0, np.int64)
        self._bridged = np.zeros(0, np.int64)      # consecutive frames without a detection
        self._tails = np.zeros((0, self.config.tail, 2), np.float32)
        self._image: np.ndarray | None = None
        self._stamp: float | None = None

    @property
    def next_id(self) -> int:
        return self._next_id

    def step(self, keypoints: np.ndarray, descriptors: np.ndarray, stamp: float,
             image: np.ndarray | None = None) -> TrackFrame:
        """
        Add one frame and return the tracks alive in it.

        (N, 2) keypoints in pixels, strongest first; (N, D) descriptors; its stamp in
        seconds; optionally its image (any size/format as_gray_u8 reads) for the LK
        refinement and the border test. A frame of another size than the last, or
        descriptors of another length or type, restart the tracks (new ids).
        """
        cfg = self.config
        kp = np.asarray(keypoints, np.float32).reshape(-1, 2)
        desc = np.asarray(descriptors)
        if desc.ndim != 2 or len(desc) != len(kp):
            raise ValueError(f'{len(kp)} keypoints need (N, D) descriptors, got shape '
                             f'{desc.shape}')
        gray = as_gray_u8(image) if image is not None else None
        shape = gray.shape if gray is not None else None
        if shape is not None and self._image is not None and self._image.shape != shape:
            self.reset()                  # a new resolution: old positions mean nothing here
        old = self._descriptors
        if old is not None and (old.shape[1] != desc.shape[1] or old.dtype != desc.dtype):
            self.reset()                  # another descriptor: nothing to match against
        track_rows, det_rows, positions, matched = self._continue(kp, desc, gray, shape)
        # setMask: continuing tracks (longest first) then detections (strongest first).
        order = np.argsort(-self._lengths[track_rows], kind='stable')
        track_rows, det_rows, positions = track_rows[order], det_rows[order], positions[order]
        free = np.ones(len(kp), bool)
        free[det_rows] = False
        fresh = np.nonzero(free & _inside(kp, shape, cfg.border))[0]
        candidates = np.concatenate([positions, kp[fresh]])
        kept = spread_select(candidates, cfg.min_distance, cfg.max_tracks)
        old = kept[kept < len(track_rows)]
        started = fresh[kept[kept >= len(track_rows)] - len(track_rows)]
        return self._commit(track_rows[old], det_rows[old], positions[old], started, kp, desc,
                            stamp, gray, matched)

    def _continue(self, kp: np.ndarray, desc: np.ndarray, gray: np.ndarray | None,
                  shape: tuple[int, int] | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Match living tracks to detections; (track rows, detection rows, positions, matches)."""
        cfg = self.config
        if len(self._ids) == 0 or self._descriptors is None:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2), np.float32),
                    0)
        m = match_descriptors(self._descriptors, desc, ratio=cfg.ratio,
                              max_distance=cfg.max_descriptor_distance, device=cfg.device)
        rows, cols = m.pairs[:, 0], m.pairs[:, 1]
        positions = kp[cols]
        keep = np.ones(len(rows), bool)
        if cfg.refine and gray is not None and self._image is not None and len(rows):
            refined = refine_matches(self._image, gray, self._pixels[rows], positions,
                                     cfg.refine_config)
            positions, keep = refined.points2, refined.keep
        keep &= _inside(positions, shape, cfg.border)
        rows, cols, positions = rows[keep], cols[keep], positions[keep]
        if cfg.bridge > 0 and gray is not None and self._image is not None:
            rows, cols, positions = self._bridge(rows, cols, positions, gray)
        if len(rows) >= MIN_F_POINTS and cfg.f_threshold > 0:
            inl = fundamental_inliers(self.camera.undistorted_pixels(self._pixels[rows]),
                                      self.camera.undistorted_pixels(positions),
                                      cfg.f_threshold, cfg.f_confidence)
            rows, cols, positions = rows[inl], cols[inl], positions[inl]
        return rows, cols, positions.astype(np.float32), len(m)

    def _bridge(self, rows: np.ndarray, cols: np.ndarray, positions: np.ndarray,
                gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        Carry on unmatched tracks by pyramidal LK (VINS's 21x21 window, 3 levels).

        Started from the last position moved by the matched tracks' median motion; kept when
        the flow traced back lands within 0.5 px of the start (VINS's flow_back) and the track
        has gone at most ``bridge`` frames without a detection. Bridged rows get col -1.
        """
        lost = np.ones(len(self._ids), bool)
        lost[rows] = False
        lost &= self._bridged < self.config.bridge
        todo = np.nonzero(lost)[0]
        if len(todo) == 0:
            return rows, cols, positions
        start = self._pixels[todo].reshape(-1, 1, 2)
        shift = (np.median(positions - self._pixels[rows], axis=0) if len(rows)
                 else np.zeros(2))
        guess = (start + shift.astype(np.float32)).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01)
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(self._image, gray, start, guess.copy(),
                                                winSize=(21, 21), maxLevel=3,
                                                criteria=criteria,
                                                flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, self._image, moved, start.copy(),
                                                    winSize=(21, 21), maxLevel=1,
                                                    criteria=criteria,
                                                    flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        moved = moved.reshape(-1, 2)
        good = ((ok.reshape(-1) == 1) & (ok_back.reshape(-1) == 1)
                & (np.linalg.norm((back - start).reshape(-1, 2), axis=1) <= 0.5)
                & _inside(moved, gray.shape, self.config.border))
        return (np.concatenate([rows, todo[good]]),
                np.concatenate([cols, np.full(int(good.sum()), -1)]),
                np.concatenate([positions, moved[good]]).astype(np.float32))

    def _commit(self, rows: np.ndarray, cols: np.ndarray, positions: np.ndarray,
                started: np.ndarray, kp: np.ndarray, desc: np.ndarray, stamp: float,
                gray: np.ndarray | None, matched: int) -> TrackFrame:
        """Make the selected tracks the new state and describe them."""
        n_new = len(started)
        new_ids = np.arange(self._next_id, self._next_id + n_new, dtype=np.int64)
        self._next_id += n_new
        ids = np.concatenate([self._ids[rows], new_ids])
        pixels = np.concatenate([positions, kp[started]]).astype(np.float32)
        normalised = self.camera.normalise(pixels)
        dt = stamp - self._stamp if self._stamp is not None else 0.0
        velocities = np.zeros_like(normalised)
        if dt > 0 and len(rows):
            velocities[:len(rows)] = (normalised[:len(rows)] - self._normalised[rows]) / dt
        lengths = np.concatenate([self._lengths[rows] + 1, np.ones(n_new, np.int64)])
        tails = np.full((len(ids), self.config.tail, 2), np.nan, np.float32)
        tails[:len(rows), :-1] = self._tails[rows, 1:]
        tails[:, -1] = pixels
        retired = len(self._ids) - len(rows)
        self._ids, self._pixels, self._normalised = ids, pixels, normalised
        # A bridged track (col -1) keeps its last descriptor.
        kept = (self._descriptors[rows] if self._descriptors is not None
                else np.zeros((0, desc.shape[1]), desc.dtype)).copy()
        kept[cols >= 0] = desc[cols[cols >= 0]]
        self._descriptors = np.concatenate([kept, desc[started]])
        self._bridged = np.concatenate([np.where(cols >= 0, 0, self._bridged[rows] + 1),
                                        np.zeros(n_new, np.int64)])
        self._lengths, self._tails = lengths, tails
        self._image, self._stamp = gray, float(stamp)
        new = np.zeros(len(ids), bool)
        new[len(rows):] = True
        return TrackFrame(float(stamp), ids, pixels, normalised, velocities, lengths, new,
                          tails, retired, matched)
