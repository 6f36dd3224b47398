"""Tracking benchmark pieces: metrics against closed forms, the KLT reference, the CLI."""
from __future__ import annotations

import cv2
import numpy as np

from elf_ros.core import CameraModel
from elf_ros.eval.tracks import KltConfig, KltTracker, summary
from elf_ros.eval.tracks.cli import main

K = np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
CAMERA = CameraModel(K, np.zeros(5))


def poses_along_x(n: int, step: float = 0.2) -> np.ndarray:
    """T_world<-camera of a camera sliding along +x."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 0, 3] = step * np.arange(n)
    return poses


def project(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    cam = (np.linalg.inv(pose) @ np.column_stack((points, np.ones(len(points)))).T).T[:, :3]
    return (cam @ K.T)[:, :2] / cam[:, 2:3]


def test_exact_tracks_score_zero_and_a_vertical_offset_scores_d_over_root_two():
    rng = np.random.default_rng(0)
    points = np.column_stack((rng.uniform(-3, 3, 30), rng.uniform(-2, 2, 30),
                              rng.uniform(5, 10, 30)))
    poses = poses_along_x(4)
    lengths = np.array([4] * 10 + [3] * 10 + [2] * 10)      # tracks of mixed lengths
    frames = []
    for k, pose in enumerate(poses):
        alive = np.nonzero(lengths > k)[0]
        frames.append((alive, project(points[alive], pose)))
    numbers, raw = summary(frames, CAMERA, poses)
    assert numbers['tracks'] == 30 and numbers['median_length'] == 3
    assert numbers['share_ge5'] == 0 and numbers['median_length_per_obs'] == 3
    assert numbers['pairs'] == 10 * 3 + 10 * 2 + 10 * 1
    assert raw['sampson'].max() < 1e-6
    assert numbers['reprojected'] == 10 * 4 + 10 * 3 and raw['reprojection'].max() < 1e-6
    # Pure x translation: epipolar lines are image rows; a row offset d in the second view
    # is a Sampson distance of d / sqrt(2) (both points share the error).
    ids, pixels = frames[1]
    moved = pixels.copy()
    moved[:, 1] += 0.8
    numbers, raw = summary([frames[0], (ids, moved)], CAMERA, poses[:2])
    np.testing.assert_allclose(raw['sampson'], 0.8 / np.sqrt(2), rtol=1e-6)
    assert numbers['sampson_share_gt1'] == 0


def texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (240, 320)).astype(np.float32),
                                    (0, 0), 1.5), 0, 255).astype(np.uint8)


def test_klt_reference_keeps_ids_on_a_translating_image_within_budget_and_spacing():
    base = texture()
    tracker = KltTracker(CameraModel.pinhole(300, 300, 160, 120), KltConfig(max_cnt=60))
    frames = []
    for k in range(4):
        image = cv2.warpAffine(base, np.float32([[1, 0, 1.5 * k], [0, 1, 0.5 * k]]),
                               (320, 240), borderMode=cv2.BORDER_REFLECT)
        frames.append(tracker.step(image))
    for frame in frames:
        assert 0 < len(frame.ids) <= 60
        gaps = np.linalg.norm(frame.pixels[:, None] - frame.pixels[None], axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= 30 - 1.0     # VINS's mask is drawn on whole pixels
    first = dict(zip(frames[0].ids.tolist(), frames[0].pixels, strict=True))
    last = frames[-1]
    kept = [i for i in last.ids.tolist() if i in first]
    assert len(kept) >= 0.6 * len(first)
    for i, pixel in zip(last.ids.tolist(), last.pixels, strict=True):
        if i in first:
            np.testing.assert_allclose(pixel - first[i], [4.5, 1.5], atol=0.15)


def test_cli_refuses_unknown_methods_and_missing_sequences(tmp_path, capsys):
    assert main(['--sequence', str(tmp_path), '--methods', 'orb-slam']) == 2
    assert 'unknown methods' in capsys.readouterr().err
    assert main(['--sequence', str(tmp_path / 'nope'), '--methods', 'klt']) == 2
    assert 'not a folder' in capsys.readouterr().err


def test_cli_bridge_zero_is_the_no_bridge_row(shared_data, tmp_path):
    """--bridge sets the tracker's LK-only frames of the 'elf' row: 0 turns bridging off."""
    import json

    assert main(['--sequence', str(shared_data / 'kitti00_turn'), '--methods', 'elf,elf-nobridge',
                 '--limit', '6', '--bridge', '0', '--threads', '1', '--no-plots',
                 '--out', str(tmp_path)]) == 0
    rows = {r['method']: r for r in json.loads((tmp_path / 'results.json').read_text())['rows']}
    timing = ('detect_ms', 'track_ms')
    same = {k: v for k, v in rows['elf'].items() if k not in (*timing, 'method')}
    assert same == {k: v for k, v in rows['elf-nobridge'].items() if k not in (*timing, 'method')}
    assert same['tracks_per_frame'] > 50
