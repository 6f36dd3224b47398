"""
The VINS front end rebuilt with OpenCV, as the tracking benchmark's reference (eval only).

VINS-Mono / VINS-Fusion ``FeatureTracker::trackImage`` per frame: pyramidal KLT of the previous
frame's points into the current frame (``calcOpticalFlowPyrLK``, 21x21 window, 3 pyramid
levels), VINS-Fusion's forward-backward check (``flow_back``: the point tracked back must land
within 0.5 px of where it started), the ``inBorder`` test (1 px), VINS-Mono's ``rejectWithF``
(fundamental-matrix RANSAC, ``F_threshold`` 1 px, confidence 0.99, on undistorted pixels),
``setMask`` (tracks sorted by how long they have lived; a track within ``min_dist`` of a longer
one is dropped) and ``goodFeaturesToTrack(MAX_CNT - tracked, qualityLevel 0.01, min_dist,
mask)`` for new points. Defaults are the shipped configs' values (max_cnt 150, min_dist 30).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from elf_ros.core import CameraModel, fundamental_inliers, spread_select
from elf_ros.eval.methods import to_gray


@dataclass(frozen=True)
class KltConfig:
    """VINS's front-end parameters (names as in its YAML configs)."""

    max_cnt: int = 150
    min_dist: float = 30.0
    quality_level: float = 0.01
    window: int = 21
    levels: int = 3
    flow_back: bool = True
    flow_back_max: float = 0.5
    f_threshold: float = 1.0
    border: int = 1


@dataclass
class KltFrame:
    """Tracks alive in one frame: ids (M,) int64, pixels (M, 2) float32, new (M,) bool."""

    ids: np.ndarray
    pixels: np.ndarray
    new: np.ndarray


class KltTracker:
    """One camera's KLT tracks; ``step(image)`` per frame."""

    def __init__(self, camera: CameraModel, config: KltConfig | None = None) -> None:
        self.camera = camera
        self.config = config or KltConfig()
        self._image: np.ndarray | None = None
        self._pixels = np.zeros((0, 2), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._counts = np.zeros(0, np.int64)
        self._next_id = 0

    def _flow(self, gray: np.ndarray) -> np.ndarray:
        """Track the previous points into ``gray``; keep the good ones; (K,) kept rows."""
        cfg = self.config
        prev = self._pixels.reshape(-1, 1, 2)
        win = (cfg.window, cfg.window)
        cur, status, _ = cv2.calcOpticalFlowPyrLK(self._image, gray, prev, None, winSize=win,
                                                  maxLevel=cfg.levels)
        good = status.reshape(-1) == 1
        if cfg.flow_back:
            criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01)
            back, status_b, _ = cv2.calcOpticalFlowPyrLK(
                gray, self._image, cur, prev.copy(), winSize=win, maxLevel=1,
                criteria=criteria, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
            good &= (status_b.reshape(-1) == 1) & (
                np.linalg.norm((back - prev).reshape(-1, 2), axis=1) <= cfg.flow_back_max)
        cur = cur.reshape(-1, 2)
        h, w = gray.shape
        r = np.rint(cur)
        good &= ((r[:, 0] >= cfg.border) & (r[:, 0] < w - cfg.border)
                 & (r[:, 1] >= cfg.border) & (r[:, 1] < h - cfg.border))
        rows = np.nonzero(good)[0]
        if len(rows) >= 8 and cfg.f_threshold > 0:
            inl = fundamental_inliers(self.camera.undistorted_pixels(self._pixels[rows]),
                                      self.camera.undistorted_pixels(cur[rows]),
                                      cfg.f_threshold)
            rows = rows[inl]
        self._pixels = cur[rows].astype(np.float32)
        return rows

    def step(self, image: np.ndarray) -> KltFrame:
        cfg = self.config
        gray = to_gray(image)
        if self._image is not None and len(self._pixels):
            rows = self._flow(gray)
            self._ids, self._counts = self._ids[rows], self._counts[rows] + 1
        else:
            self._pixels = np.zeros((0, 2), np.float32)
            self._ids, self._counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        # setMask: longest tracks first; one within min_dist of a longer one goes.
        order = np.argsort(-self._counts, kind='stable')
        keep = order[spread_select(self._pixels[order], cfg.min_dist, cfg.max_cnt)]
        self._pixels, self._ids, self._counts = (self._pixels[keep], self._ids[keep],
                                                 self._counts[keep])
        n_old = len(self._ids)
        want = cfg.max_cnt - n_old
        if want > 0:
            mask = np.full(gray.shape, 255, np.uint8)
            if n_old:
                # Pixels closer than min_dist to a kept point are masked (VINS's circles).
                seeds = np.full(gray.shape, 255, np.uint8)
                r = np.rint(self._pixels).astype(int)
                seeds[r[:, 1], r[:, 0]] = 0
                dist = cv2.distanceTransform(seeds, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
                mask[dist <= cfg.min_dist] = 0
            found = cv2.goodFeaturesToTrack(gray, want, cfg.quality_level, cfg.min_dist,
                                            mask=mask)
            found = np.zeros((0, 2), np.float32) if found is None else found.reshape(-1, 2)
            n_new = len(found)
            self._pixels = np.concatenate([self._pixels, found.astype(np.float32)])
            self._ids = np.concatenate([self._ids, np.arange(self._next_id,
                                                             self._next_id + n_new)])
            self._counts = np.concatenate([self._counts, np.ones(n_new, np.int64)])
            self._next_id += n_new
        self._image = gray
        new = np.zeros(len(self._ids), bool)
        new[n_old:] = True
        return KltFrame(self._ids.copy(), self._pixels.copy(), new)
