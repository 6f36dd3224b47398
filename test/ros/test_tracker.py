"""elf_tracker over real Fast DDS: fed by a real elf_node, or by hand-made Features."""
from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
import rclpy  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_harness import frame, InProcessNode, Probe  # noqa: E402
from sensor_msgs.msg import CameraInfo, PointCloud  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from elf_ros.core import FUSION_CHANNELS  # noqa: E402
from elf_ros.msg import Features  # noqa: E402
from elf_ros.ros import messages  # noqa: E402
from elf_ros.ros.tracker import TrackerNode  # noqa: E402

pytestmark = pytest.mark.ros
# TUM fr2 intrinsics at half resolution (the shipped frames, resized to 320x240).
FX, FY, CX, CY = 260.45, 260.50, 162.57, 124.85


def camera_info(k=(FX, 0, CX, 0, FY, CY, 0, 0, 1), model='plumb_bob') -> CameraInfo:
    info = CameraInfo(width=320, height=240, distortion_model=model)
    info.k = [float(v) for v in k]
    info.d = [0.0] * 5
    return info


def decode(msg: PointCloud) -> dict[int, np.ndarray]:
    """{id: [x, y, z, u, v, vx, vy]} as VINS-Fusion's feature_callback reads the message."""
    channels = [np.asarray(c.values, np.float64) for c in msg.channels]
    out = {}
    for i, p in enumerate(msg.points):
        out[int(channels[0][i])] = np.array([p.x, p.y, p.z, *(c[i] for c in channels[2:6])])
        assert channels[1][i] == 0                           # camera id
    return out


def test_elf_node_and_tracker_give_vins_tracks_per_frame_with_the_source_header():
    harness = InProcessNode(preset='efficientnet_lite1', weights='imagenet', input_width=320,
                            input_height=240, max_keypoints=500, cpu_threads=1)
    tracker = TrackerNode(context=harness.context, namespace=harness.namespace,
                          parameter_overrides=[Parameter('max_cnt', value=100),
                                               Parameter('min_dist', value=15.0)])
    harness.executor.add_node(tracker)
    try:
        probe = harness.probe
        probe.listen('features', Features)
        probe.listen('feature_tracks', PointCloud)
        info = probe.publisher('camera_info', CameraInfo)
        probe.wait(lambda: info.get_subscription_count() > 0, 30, 'camera_info subscriber')
        info.publish(camera_info())
        probe.handshake('image', 'features')
        probe.wait(lambda: probe.publisher('image').get_subscription_count() >= 2, 30,
                   'tracker image subscription')
        probe.wait_for('feature_tracks', max(probe.received['features']), timeout=30)
        stamps = []
        for index in range(6):
            stamp = probe.send('image', frame(index, (320, 240)), frame_id='tum_rgb')
            probe.wait_for('features', stamp, timeout=60)
            stamps.append(stamp)
        clouds = [probe.wait_for('feature_tracks', s, timeout=30) for s in stamps]
    finally:
        harness.executor.remove_node(tracker)
        tracker.destroy_node()
        harness.close()
    decoded = []
    for stamp, msg in zip(stamps, clouds, strict=True):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
        assert msg.header.frame_id == 'tum_rgb'
        assert tuple(c.name for c in msg.channels) == FUSION_CHANNELS
        assert all(len(c.values) == len(msg.points) for c in msg.channels)
        tracks = decode(msg)
        assert 20 <= len(tracks) <= 100
        rows = np.array(list(tracks.values()))
        assert (rows[:, 2] == 1).all()                                     # z == 1
        np.testing.assert_allclose(rows[:, 0], (rows[:, 3] - CX) / FX, atol=1e-5)
        np.testing.assert_allclose(rows[:, 1], (rows[:, 4] - CY) / FY, atol=1e-5)
        decoded.append(tracks)
    issued = max(decoded[0])
    for (s0, before), (s1, after) in zip(zip(stamps, decoded, strict=True),
                                         zip(stamps[1:], decoded[1:], strict=True),
                                         strict=False):
        kept = set(before) & set(after)
        assert len(kept) >= 0.3 * len(before)                   # ids persist
        assert all(i > issued for i in set(after) - kept)       # new ids are never old ones
        issued = max(issued, max(after))
        dt = (s1[0] - s0[0]) + 1e-9 * (s1[1] - s0[1])
        for i in kept:                                          # velocity = motion / dt
            expected = (after[i][:2] - before[i][:2]) / dt
            np.testing.assert_allclose(after[i][5:7], expected, atol=1e-5)
        for i in set(after) - kept:
            assert not after[i][5:7].any()


class TrackerOnly:
    """An elf_tracker (no refinement or bridging: no images needed) and a probe."""

    def __init__(self, namespace: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = TrackerNode(context=self.context, namespace=namespace,
                                parameter_overrides=[Parameter('refine', value=False),
                                                     Parameter('bridge', value=0),
                                                     Parameter('diagnostics_period', value=0.2)])
        self.probe = Probe(self.context, namespace)
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        self.probe.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(5.0)


def features_msg(sec: int, points: np.ndarray, desc: np.ndarray) -> Features:
    header = Header(frame_id='cam')
    header.stamp.sec = sec
    return messages.features(header, 320, 240, points, np.linspace(1, 0.5, len(points)), desc,
                             'test', 'none')


def tracker_status(probe: Probe) -> DiagnosticStatus | None:
    for msg in list(probe.received['/diagnostics'].values()):
        for status in msg.status:
            if status.hardware_id == 'elf_tracker':
                return status
    return None


def test_without_a_usable_camera_info_nothing_is_published_and_diagnostics_say_why():
    run = TrackerOnly(f'/trk{threading.get_ident() % 10000}')
    rng = np.random.default_rng(0)
    points = rng.uniform(10, [310, 230], (40, 2)).astype(np.float32)
    desc = rng.standard_normal((40, 16)).astype(np.float32)
    try:
        probe = run.probe
        probe.listen('feature_tracks', PointCloud)
        probe.listen('/diagnostics', DiagnosticArray)
        pub = probe.publisher('features', Features)
        probe.wait(lambda: pub.get_subscription_count() > 0, 30, 'features subscriber')
        def refused() -> int:
            status = tracker_status(probe)
            return int({kv.key: kv.value for kv in status.values}['refused']) if status else 0

        for sec in (1, 2, 3):     # the first may be sent before the subscription accepts data
            pub.publish(features_msg(sec, points, desc))
            probe.received['/diagnostics'].clear()
            probe.wait(lambda: refused() >= 1, 10, 'diagnostics counting the refused frames')
        status = tracker_status(probe)
        assert status.level == DiagnosticStatus.WARN and 'no camera_info' in status.message
        # An uncalibrated camera (K = 0) is refused too, with its own reason.
        info = probe.publisher('camera_info', CameraInfo)
        probe.wait(lambda: info.get_subscription_count() > 0, 30, 'camera_info subscriber')
        info.publish(camera_info(k=[0.0] * 9))
        probe.received['/diagnostics'].clear()
        probe.wait(lambda: (s := tracker_status(probe)) is not None and
                   'uncalibrated' in s.message, 10, 'the uncalibrated-camera warning')
        pub.publish(features_msg(4, points, desc))
        assert not probe.received['feature_tracks']
        # A valid calibration: tracks flow, and the same points keep their ids.
        info.publish(camera_info())
        probe.wait(lambda: run.node._manager is not None, 10, 'camera model')
        pub.publish(features_msg(5, points, desc))
        first = probe.wait_for('feature_tracks', (5, 0), timeout=10)
        pub.publish(features_msg(6, points + 1.0, desc))
        second = probe.wait_for('feature_tracks', (6, 0), timeout=10)
    finally:
        run.close()
    assert (4, 0) not in probe.received['feature_tracks']     # refused while uncalibrated
    a, b = decode(first), decode(second)
    assert len(a) > 10 and set(a) == set(b)
    for i in a:
        np.testing.assert_allclose(b[i][3:5] - a[i][3:5], [1.0, 1.0], atol=1e-4)
        np.testing.assert_allclose(b[i][5:7], [1.0 / FX, 1.0 / FY], rtol=1e-4)


@pytest.mark.parametrize('name, value, reason', [
    ('layout', 'orb', 'layout must be one of'), ('camera_id', 2, 'camera_id must be in'),
    ('max_cnt', 0, 'max_tracks must be at least 1'),
])
def test_bad_parameters_are_refused_with_the_reason(name, value, reason):
    context = Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(ValueError, match=reason):
            TrackerNode(context=context, parameter_overrides=[Parameter(name, value=value)])
    finally:
        rclpy.shutdown(context=context)


def test_tracks_image_marks_every_track():
    from elf_ros.core import CameraModel, TrackManager
    from elf_ros.ros.tracker import draw_tracks

    manager = TrackManager(CameraModel.pinhole(FX, FY, CX, CY))
    rng = np.random.default_rng(1)
    pts = rng.uniform(20, [300, 220], (30, 2)).astype(np.float32)
    desc = rng.standard_normal((30, 8)).astype(np.float32)
    manager.step(pts, desc, 0.0)
    frame_ = manager.step(pts + 3, desc, 0.1)
    canvas = draw_tracks(np.zeros((240, 320), np.uint8), frame_)
    assert canvas.shape == (240, 320, 3)
    # Every track's current position is drawn (red-to-blue by length, never black).
    at = np.rint(frame_.pixels).astype(int)
    assert (canvas[at[:, 1], at[:, 0]].max(axis=1) > 0).all()
