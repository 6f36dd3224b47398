"""Track manager on synthetic scenes with known motion, against independent references."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from elf_ros.core.camera_model import CameraModel, CameraModelError
from elf_ros.core.tracking import spread_select, TrackerConfig, TrackManager
from elf_ros.core.vins_format import FUSION_CHANNELS, MONO_CHANNELS, vins_columns

W, H = 640, 480
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
CAMERA = CameraModel(K, np.zeros(5))


def scene(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Make n 3D points 4-12 m in front of the camera, each with its own 32-D descriptor."""
    rng = np.random.default_rng(seed)
    pts = np.column_stack((rng.uniform(-8, 8, n), rng.uniform(-5, 5, n), rng.uniform(4, 12, n)))
    desc = rng.standard_normal((n, 32)).astype(np.float32)
    return pts, desc / np.linalg.norm(desc, axis=1, keepdims=True)


def observe(points: np.ndarray, camera_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) of the points seen from a camera moved to x = camera_x; visible mask."""
    rel = points - np.array([camera_x, 0, 0])
    uv = (rel @ K.T)[:, :2] / rel[:, 2:3]
    visible = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    return uv, visible


def run(manager: TrackManager, points: np.ndarray, desc: np.ndarray, xs: list[float],
        seed: int = 1, dt: float = 0.1):
    """
    Feed frames (detections shuffled, as a detector would order them).

    Per frame: the TrackFrame and the scene index behind every output row.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k, x in enumerate(xs):
        uv, visible = observe(points, x)
        idx = rng.permutation(np.nonzero(visible)[0])
        frame = manager.step(uv[idx], desc[idx], stamp=k * dt, image=np.zeros((H, W), np.uint8))
        # Which scene point each output row is: the nearest visible projection.
        d = np.linalg.norm(uv[idx][None] - frame.pixels[:, None], axis=2)
        out.append((frame, idx[d.argmin(axis=1)], d.min(axis=1)))
    return out


def test_ids_persist_and_follow_the_same_point():
    points, desc = scene()
    manager = TrackManager(CAMERA, TrackerConfig(refine=False, min_distance=20))
    frames = run(manager, points, desc, [0.1 * k for k in range(8)])
    owner: dict[int, int] = {}
    for frame, truth, err in frames:
        assert err.max() < 1e-3                          # positions are the detections
        for track_id, point in zip(frame.ids.tolist(), truth.tolist(), strict=True):
            assert owner.setdefault(track_id, point) == point
    # A track ends only when its point leaves the image or crowds a longer track (setMask).
    xs = [0.1 * k for k in range(8)]
    for k in range(1, len(frames)):
        (prev, prev_truth, _), (cur, _, _) = frames[k - 1], frames[k]
        uv, visible = observe(points, xs[k])
        ended = ~np.isin(prev.ids, cur.ids)
        for point in prev_truth[ended].tolist():
            crowded = np.linalg.norm(cur.pixels - uv[point], axis=1).min() < 20
            assert not visible[point] or crowded
        assert (~np.isin(prev.ids, cur.ids)).sum() < 0.2 * len(prev)
    assert frames[-1][0].lengths.max() == 8


def test_budget_and_minimum_distance_hold_every_frame():
    points, desc = scene(800)
    cfg = TrackerConfig(refine=False, max_tracks=60, min_distance=35)
    for frame, _, _ in run(TrackManager(CAMERA, cfg), points, desc, [0.2 * k for k in range(6)]):
        assert 0 < len(frame) <= 60
        gaps = np.linalg.norm(frame.pixels[:, None] - frame.pixels[None], axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= 35
        assert len(np.unique(frame.ids)) == len(frame)


def test_a_point_leaving_the_image_retires_its_id_for_good():
    points, desc = scene(300)
    manager = TrackManager(CAMERA, TrackerConfig(refine=False, min_distance=10))
    # The camera slides right far enough that points leave on the left, then comes back.
    xs = [0.0, 1.5, 3.0, 4.5, 3.0, 1.5, 0.0]
    frames = run(manager, points, desc, xs)
    seen: dict[int, set[int]] = {}            # scene point -> ids it has had
    last_seen: dict[int, int] = {}            # id -> frame index
    issued = -1
    for k, (frame, truth, _) in enumerate(frames):
        new_ids = frame.ids[frame.new]
        assert (new_ids > issued).all()        # never an old id again
        issued = max(issued, int(frame.ids.max()))
        for track_id, point in zip(frame.ids.tolist(), truth.tolist(), strict=True):
            if track_id in last_seen:
                assert last_seen[track_id] == k - 1   # a track has no holes
            last_seen[track_id] = k
            seen.setdefault(point, set()).add(track_id)
    # Points that left and came back were given a new id.
    returned = [p for p, ids in seen.items() if len(ids) > 1]
    assert returned
    uv0, vis0 = observe(points, 0.0)
    _, vis3 = observe(points, 4.5)
    left = set(np.nonzero(vis0 & ~vis3)[0].tolist())
    assert set(returned) <= left | set(seen)       # only re-entries get a second id
    assert sum(frame.retired for frame, _, _ in frames) > 0


def test_velocities_are_vins_normalised_coordinates_per_second():
    points, desc = scene()
    dt = 0.05
    frames = run(TrackManager(CAMERA, TrackerConfig(refine=False)), points, desc,
                 [0.0, 0.05, 0.1], dt=dt)
    assert not frames[0][0].velocities.any()
    for (prev, prev_truth, _), (cur, truth, _) in zip(frames, frames[1:], strict=False):
        old = {i: p for i, p in zip(prev.ids.tolist(), prev_truth.tolist(), strict=True)}
        cont = ~cur.new
        assert cont.sum() > 20 and not cur.velocities[cur.new].any()
        # Reference: the points' true normalised coordinates in both frames.
        k = cur.stamp / dt
        rel_now = points[truth[cont]] - np.array([0.05 * k, 0, 0])
        rel_then = points[[old[i] for i in cur.ids[cont].tolist()]] - np.array(
            [0.05 * (k - 1), 0, 0])
        expected = (rel_now[:, :2] / rel_now[:, 2:] - rel_then[:, :2] / rel_then[:, 2:]) / dt
        np.testing.assert_allclose(cur.velocities[cont], expected, atol=1e-5)


def test_a_wrong_match_is_dropped_by_the_fundamental_matrix_ransac():
    points, desc = scene(400)
    manager = TrackManager(CAMERA, TrackerConfig(refine=False, min_distance=5, max_tracks=1000))
    uv, vis = observe(points, 0.0)
    idx = np.nonzero(vis)[0]
    first = manager.step(uv[idx], desc[idx], 0.0)
    uv2, vis2 = observe(points, 0.1)
    idx2 = np.nonzero(vis2)[0]
    swapped = desc[idx2].copy()
    far = np.argsort(uv2[idx2, 0])[[0, -1]]             # the leftmost and rightmost points
    swapped[far] = swapped[far[::-1]]                   # their descriptors exchanged
    second = manager.step(uv2[idx2], swapped, 0.1)
    nearest = np.linalg.norm(first.pixels[:, None] - uv[idx][None], axis=2).argmin(axis=1)
    by_id = dict(zip(first.ids.tolist(), idx[nearest].tolist(), strict=True))
    assert (~second.new).sum() > 100
    for track_id, pixel in zip(second.ids[~second.new].tolist(), second.pixels[~second.new],
                               strict=True):
        assert np.linalg.norm(uv2[by_id[track_id]] - pixel) < 1e-3


def test_refinement_moves_noisy_detections_onto_the_true_motion():
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (H, W)).astype(np.float32), (0, 0), 2.0)
    image1 = np.clip(texture, 0, 255).astype(np.uint8)
    shift = np.array([2.3, 1.6])
    image2 = cv2.warpAffine(image1, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (W, H),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    pts1 = rng.uniform(60, [W - 60, H - 60], (80, 2)).astype(np.float32)
    desc = rng.standard_normal((80, 16)).astype(np.float32)
    noisy = (pts1 + shift + rng.uniform(-1, 1, pts1.shape)).astype(np.float32)
    manager = TrackManager(CAMERA, TrackerConfig(min_distance=0, f_threshold=0))
    manager.step(pts1, desc, 0.0, image1)
    frame = manager.step(noisy, desc, 0.1, image2)
    cont = ~frame.new
    truth = pts1[frame.ids[cont]] + shift
    assert cont.sum() >= 70
    assert np.median(np.linalg.norm(frame.pixels[cont] - truth, axis=1)) < 0.1
    assert np.median(np.linalg.norm(noisy - (pts1 + shift), axis=1)) > 0.5


def naive_spread(points: np.ndarray, min_distance: float, limit: int) -> list[int]:
    kept: list[int] = []
    for i, p in enumerate(points):
        if all(np.linalg.norm(p - points[j]) >= min_distance for j in kept):
            kept.append(i)
    return kept[:limit]


@pytest.mark.parametrize('seed', range(5))
def test_spread_select_equals_the_sequential_greedy_mask(seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 200, (300, 2))
    assert spread_select(pts, 15.0, 1000).tolist() == naive_spread(pts, 15.0, 1000)
    assert spread_select(pts, 15.0, 25).tolist() == naive_spread(pts, 15.0, 25)


def test_camera_model_inverts_opencv_projection():
    rng = np.random.default_rng(4)
    xyz = np.column_stack((rng.uniform(-0.6, 0.6, (50, 2)), np.ones(50)))
    radtan = np.array([-0.28, 0.07, 0.001, -0.0005, 0.0])
    pixels, _ = cv2.projectPoints(xyz, np.zeros(3), np.zeros(3), K, radtan)
    model = CameraModel.from_camera_info(K.ravel(), radtan, 'plumb_bob')
    np.testing.assert_allclose(model.normalise(pixels.reshape(-1, 2)), xyz[:, :2], atol=1e-6)
    fisheye = np.array([0.01, -0.005, 0.001, -0.0002])
    fpix, _ = cv2.fisheye.projectPoints(xyz.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K,
                                        fisheye)
    model = CameraModel.from_camera_info(K.ravel(), fisheye, 'equidistant')
    np.testing.assert_allclose(model.normalise(fpix.reshape(-1, 2)), xyz[:, :2], atol=1e-6)


@pytest.mark.parametrize('k, d, model, reason', [
    ([0.0] * 9, [], 'plumb_bob', 'uncalibrated'),
    (K.ravel(), [0.1, 0.2], 'equidistant', '4 coefficients'),
    (K.ravel(), [], 'double_sphere', 'not supported'),
    (K.ravel()[:6], [], 'plumb_bob', '9 numbers'),
])
def test_unusable_calibrations_are_refused_with_the_reason(k, d, model, reason):
    with pytest.raises(CameraModelError, match=reason):
        CameraModel.from_camera_info(k, d, model)


def test_bad_input_is_refused():
    manager = TrackManager(CAMERA)
    with pytest.raises(ValueError, match='descriptors'):
        manager.step(np.zeros((3, 2)), np.zeros((2, 8)), 0.0)
    with pytest.raises(ValueError, match='max_tracks'):
        TrackerConfig(max_tracks=0)
    empty = manager.step(np.zeros((0, 2)), np.zeros((0, 8)), 0.0)
    assert len(empty) == 0
    # Tracks alive, then a frame without detections or with another descriptor length.
    pts = np.random.default_rng(0).uniform(50, 400, (20, 2))
    desc = np.random.default_rng(1).standard_normal((20, 8)).astype(np.float32)
    assert len(manager.step(pts, desc, 1.0)) > 10
    assert len(manager.step(np.zeros((0, 2)), np.zeros((0, 8), np.float32), 2.0)) == 0
    issued = manager.step(pts, desc, 3.0).ids.max()
    other = manager.step(pts, np.ones((20, 16), np.float32), 4.0)
    assert other.new.all() and other.ids.min() > issued   # restarted, ids never reused


def decode_like_vins_fusion(points, channels):
    """Decode as VINS-Fusion's feature_callback does: {id: [(camera, [x y z u v vx vy])]}."""
    out = {}
    for i in range(len(points)):
        feature_id, camera_id = int(channels[0][i]), int(channels[1][i])
        x, y, z = points[i]
        if len(channels) > 5:          # as rosNodeTest.cpp: an IndexError here = UB in C++
            assert (channels[6][i], channels[7][i], channels[8][i]) == (0, 0, 0)
        assert z == 1                                          # ROS_ASSERT(z == 1)
        out.setdefault(feature_id, []).append(
            (camera_id, [x, y, z, channels[2][i], channels[3][i], channels[4][i],
                         channels[5][i]]))
    return out


def decode_like_vins_mono(points, channels, num_of_cam):
    out = {}
    for i in range(len(points)):
        v = int(channels[0][i] + 0.5)
        x, y, z = points[i]
        assert z == 1
        out.setdefault(v // num_of_cam, []).append(
            (v % num_of_cam, [x, y, z, channels[1][i], channels[2][i], channels[3][i],
                              channels[4][i]]))
    return out


def test_pointcloud_columns_decode_as_the_vins_estimators_read_them():
    points, desc = scene()
    frames = run(TrackManager(CAMERA, TrackerConfig(refine=False)), points, desc, [0.0, 0.1])
    frame = frames[-1][0]
    expected = {int(i): [float(v) for v in (*n, 1.0, *p, *vel)] for i, n, p, vel in zip(
        frame.ids, frame.normalised, frame.pixels, frame.velocities, strict=True)}
    fusion = vins_columns(frame, 'fusion', camera_id=0)
    assert fusion.names == FUSION_CHANNELS
    got = decode_like_vins_fusion(fusion.points, fusion.channels)
    assert set(got) == set(expected)
    for track_id, obs in got.items():
        assert len(obs) == 1 and obs[0][0] == 0
        np.testing.assert_allclose(obs[0][1], expected[track_id], rtol=1e-6, atol=1e-6)
    mono = vins_columns(frame, 'mono', camera_id=1, num_cameras=2)
    assert mono.names == MONO_CHANNELS
    got = decode_like_vins_mono(mono.points, mono.channels, 2)
    assert set(got) == set(expected)
    assert all(obs[0][0] == 1 for obs in got.values())
    with pytest.raises(ValueError, match='layout'):
        vins_columns(frame, 'orb')


def test_bridging_carries_a_missed_detection_by_lk_for_at_most_bridge_frames():
    rng = np.random.default_rng(5)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (H, W)).astype(np.float32), (0, 0), 2.0)
    base = np.clip(texture, 0, 255).astype(np.uint8)

    def shifted(k: int) -> np.ndarray:
        return cv2.warpAffine(base, np.float32([[1, 0, 2.0 * k], [0, 1, 1.0 * k]]), (W, H),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    pts = rng.uniform(80, [W - 80, H - 80], (60, 2)).astype(np.float32)
    desc = rng.standard_normal((60, 16)).astype(np.float32)
    missing = np.arange(10)                       # never re-detected after frame 0
    for bridge in (0, 2):
        manager = TrackManager(CAMERA, TrackerConfig(min_distance=0, bridge=bridge))
        first = manager.step(pts, desc, 0.0, shifted(0))
        lost_ids = set(first.ids[missing].tolist())
        alive = []
        for k in (1, 2, 3):
            seen = np.setdiff1d(np.arange(60), missing)
            frame = manager.step(pts[seen] + [2.0 * k, 1.0 * k], desc[seen], 0.1 * k,
                                 shifted(k))
            carried = np.isin(frame.ids, list(lost_ids))
            alive.append(int(carried.sum()))
            # Bridged positions follow the true motion (LK on the image).
            truth = pts[frame.ids[carried]] + [2.0 * k, 1.0 * k]
            assert np.abs(frame.pixels[carried] - truth).max(initial=0) < 0.2
        assert alive == ([0, 0, 0] if bridge == 0 else [10, 10, 0])
