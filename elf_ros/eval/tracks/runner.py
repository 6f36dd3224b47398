"""
The tracking benchmark's runs: every method over one sequence's frames, then the metrics.

Detections are computed once per detector (ELF, SIFT) and reused by the track-manager variants.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import sys
import time

import numpy as np

from elf_ros.core import CameraModel, TrackerConfig, TrackManager
from elf_ros.eval.features import Features
from elf_ros.eval.methods import build_method
from elf_ros.eval.sequences import NATIVE, Sequence
from elf_ros.eval.tracks.klt import KltConfig, KltTracker
from elf_ros.eval.tracks.metrics import summary

METHODS = ('elf', 'elf-nobridge', 'elf-nolk', 'sift', 'klt')
FRAME_DT = 0.1  # seconds between frames given to the trackers (only velocities use it)


@dataclass
class Settings:
    """What every method shares: the track budget and spacing, the detectors' settings."""

    max_cnt: int = TrackerConfig().max_tracks
    min_dist: float = TrackerConfig().min_distance
    max_keypoints: int = 1000
    preset: str = 'efficientnet_lite1'
    device: str = 'cpu'
    limit: int = 0
    weights: dict[str, str] = field(default_factory=dict)
    elf_overrides: dict = field(default_factory=lambda: dict(NATIVE))
    bridge: int = TrackerConfig().bridge      # LK-only frames of the 'elf' and 'sift' rows


@dataclass
class Run:
    """One method on one sequence: the numbers, the distributions, the timings."""

    sequence: str
    method: str
    numbers: dict[str, float]
    raw: dict[str, np.ndarray] = field(repr=False)
    detect_ms: float = 0.0      # per frame (shared by elf and elf-nolk)
    track_ms: float = 0.0       # per frame
    detections: float = 0.0     # per frame


def camera_of(seq: Sequence) -> CameraModel:
    return CameraModel(seq.camera_matrix, seq.distortion, 'plumb_bob')


def track_detections(seq: Sequence, feats: list[Features], images: list[np.ndarray],
                     config: TrackerConfig) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """Run the core track manager over precomputed detections; per-frame tracks and ms/frame."""
    manager = TrackManager(camera_of(seq), config)
    out = []
    start = time.perf_counter()
    for k, (f, img) in enumerate(zip(feats, images, strict=True)):
        frame = manager.step(f.keypoints, f.descriptors, k * FRAME_DT, img)
        out.append((frame.ids, frame.pixels))
    return out, 1e3 * (time.perf_counter() - start) / max(1, len(feats))


def track_klt(seq: Sequence, images: list[np.ndarray], config: KltConfig
              ) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    tracker = KltTracker(camera_of(seq), config)
    out = []
    start = time.perf_counter()
    for img in images:
        frame = tracker.step(img)
        out.append((frame.ids, frame.pixels))
    return out, 1e3 * (time.perf_counter() - start) / max(1, len(images))


def extract(method, images: list[np.ndarray]) -> tuple[list[Features], float]:
    start = time.perf_counter()
    feats = [f for img in images for f in method.extract([img])]
    return feats, 1e3 * (time.perf_counter() - start) / max(1, len(images))


def run_sequence(seq: Sequence, methods: list[str], args: Settings) -> list[Run]:
    """Run each method on the sequence (first ``args.limit`` frames when set) and score it."""
    count = min(len(seq), args.limit) if args.limit > 0 else len(seq)
    images = [seq.image(i) for i in range(count)]
    poses = seq.poses[:count]
    camera = camera_of(seq)
    base = TrackerConfig(max_tracks=args.max_cnt, min_distance=args.min_dist,
                         bridge=args.bridge,
                         device='cpu' if args.device == 'auto' else args.device)
    runs = []
    detectors: dict[str, tuple[list[Features], float]] = {}
    for name in methods:
        if name == 'klt':
            frames, track_ms = track_klt(seq, images, KltConfig(max_cnt=args.max_cnt,
                                                                min_dist=args.min_dist))
            detect_ms, detections = 0.0, float('nan')
        else:
            kind = 'sift' if name == 'sift' else 'elf'
            if kind not in detectors:
                spec = 'sift' if kind == 'sift' else f'elf-{args.preset}'
                method = build_method(spec, args.max_keypoints, args.device, args.weights,
                                      args.elf_overrides)
                detectors[kind] = extract(method, images)
            feats, detect_ms = detectors[kind]
            config = replace(base, refine=name != 'elf-nolk',
                             bridge=base.bridge if name in ('elf', 'sift') else 0)
            frames, track_ms = track_detections(seq, feats, images, config)
            detections = float(np.mean([len(f) for f in feats]))
        numbers, raw = summary(frames, camera, poses)
        runs.append(Run(seq.name, name, numbers, raw, detect_ms, track_ms, detections))
        print(f'{seq.name} {name}: {numbers["tracks_per_frame"]:.0f} tracks/frame, median '
              f'length {numbers["median_length"]:.1f}, Sampson > 1 px '
              f'{numbers["sampson_share_gt1"]:.3f}', file=sys.stderr)
    return runs


