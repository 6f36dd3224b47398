"""elf_matcher over real Fast DDS, fed by a real elf_node: matches images and motion."""
from pathlib import Path
import time

import cv2
import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
import rclpy  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_harness import frame, InProcessNode  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from elf_ros.core.pose import direction_error_deg, rotation_error_deg  # noqa: E402
from elf_ros.eval.sequences import load_sequence, quaternion_matrix  # noqa: E402
from elf_ros.msg import Features  # noqa: E402
from elf_ros.ros import messages  # noqa: E402
from elf_ros.ros.matcher import MatcherNode, PENDING, rotation_to_quaternion  # noqa: E402

pytestmark = pytest.mark.ros


def with_matcher(harness: InProcessNode, **parameters) -> MatcherNode:
    """Add an elf_matcher to a harness: same context, namespace and executor."""
    matcher = MatcherNode(context=harness.context, namespace=harness.namespace,
                          parameter_overrides=[Parameter(k, value=v)
                                               for k, v in parameters.items()])
    harness.executor.add_node(matcher)
    return matcher


def close(harness: InProcessNode, matcher: MatcherNode) -> None:
    harness.executor.remove_node(matcher)
    matcher.destroy_node()
    harness.close()


def test_rotation_quaternion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.standard_normal(4)
        q /= np.linalg.norm(q)
        rotation = quaternion_matrix(*q)
        back = quaternion_matrix(*rotation_to_quaternion(rotation))
        assert rotation_error_deg(back, rotation) < 1e-5


def test_replayed_frames_give_matches_images_with_the_source_headers():
    harness = InProcessNode()
    matcher = with_matcher(harness)
    try:
        probe = harness.probe
        probe.listen('features', Features)
        probe.listen('matches', Image)
        probe.listen('/diagnostics', DiagnosticArray)
        probe.handshake('image', 'features')
        images = probe.publisher('image')
        # `matches` has a subscriber now, so the matcher subscribes to the images too.
        probe.wait(lambda: images.get_subscription_count() >= 2, 30, 'matcher image subscription')
        stamps = []
        for index in range(5):
            stamp = probe.send('image', frame(index, (200, 150)), frame_id='replay_cam')
            probe.wait_for('features', stamp)
            stamps.append(stamp)
        drawn = [probe.wait_for('matches', s, timeout=30) for s in stamps[1:]]

        def matcher_status():
            for msg in list(probe.received['/diagnostics'].values()):
                for status in msg.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if status.hardware_id == 'elf_matcher' and int(values['frames']) >= 5:
                        return values
            return None
        # Diagnostics messages share a stamp key only by chance; wait for a fresh one.
        probe.received['/diagnostics'].clear()
        probe.wait(lambda: matcher_status() is not None, 10, 'elf_matcher diagnostics')
        values = matcher_status()
    finally:
        close(harness, matcher)
    for stamp, msg in zip(stamps[1:], drawn, strict=True):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
        assert msg.header.frame_id == 'replay_cam'
        assert (msg.width, msg.height, msg.encoding) == (200, 150, 'rgb8')
    assert int(values['matches']) > 0 and float(values['rate_hz']) > 0
    assert values['camera_info'] == 'False' and int(values['poses_published']) == 0
    # Lines were drawn: the matches image differs from the plain frame.
    pixels = np.frombuffer(bytes(drawn[-1].data), np.uint8).reshape(150, 200, 3)
    assert np.abs(pixels.astype(int) - frame(4, (200, 150))).max() > 100


def camera_info(matrix: np.ndarray, width: int, height: int) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    info.k = [float(v) for v in matrix.ravel()]
    info.d = [0.0] * 5
    return info


def test_kitti_motion_matches_the_ground_truth(shared_data: Path):
    seq = load_sequence(shared_data / 'kitti_seq1')
    indices = (0, 5, 10, 15)  # 6 m apart: enough parallax for the translation direction
    harness = InProcessNode(preset='efficientnet_lite0', weights='imagenet', input_width=0,
                            input_height=0, input_long_side=0, max_keypoints=1000,
                            cpu_threads=1)
    matcher = with_matcher(harness, camera_info_topic='camera_info')
    try:
        probe = harness.probe
        probe.listen('features', Features)
        probe.listen('motion', TransformStamped)
        info_pub = probe.node.create_publisher(
            CameraInfo, 'camera_info', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        probe.wait(lambda: info_pub.get_subscription_count() > 0, 30, 'camera_info subscriber')
        info = camera_info(seq.camera_matrix, 1226, 370)
        probe.handshake('image', 'features')
        stamps = []
        for index in indices:
            info_pub.publish(info)
            rgb = cv2.cvtColor(seq.image(index), cv2.COLOR_GRAY2RGB)
            stamp = probe.send('image', rgb, frame_id='kitti_left')
            probe.wait_for('features', stamp, timeout=60)
            stamps.append(stamp)
        motions = [probe.wait_for('motion', s, timeout=30) for s in stamps[1:]]
    finally:
        close(harness, matcher)
    for (i, j), msg in zip(zip(indices, indices[1:], strict=False), motions, strict=True):
        assert msg.header.frame_id == 'kitti_left'
        assert msg.child_frame_id == 'kitti_left_previous'
        r = msg.transform.rotation
        t = msg.transform.translation
        t_est = np.array([t.x, t.y, t.z])
        rot_gt, t_gt = seq.relative_pose(i, j)
        assert np.linalg.norm(t_est) == pytest.approx(1.0, abs=1e-6)
        # This stretch is nearly straight (0.2-0.3 deg of true rotation per pair), so the
        # rotation bound alone would not tell a pose from identity; the direction bound does.
        assert rotation_error_deg(quaternion_matrix(r.x, r.y, r.z, r.w), rot_gt) < 1.0
        assert direction_error_deg(t_est, t_gt) < 5.0


@pytest.mark.parametrize('name, value, reason', [
    ('ratio', 1.5, 'ratio must be in'), ('ransac_threshold', 0.0, 'must be positive'),
    ('min_inliers', 2, 'min_inliers must be at least 5'),
    ('refine', 'affine', 'refine must be one of'), ('image_wait', 0.0, 'must be positive'),
])
def test_bad_parameters_are_refused_with_the_reason(name, value, reason):
    context = Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(ValueError, match=reason):
            MatcherNode(context=context, parameter_overrides=[Parameter(name, value=value)])
    finally:
        rclpy.shutdown(context=context)


def _textured_pair(shift=(2.3, -1.7)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img1 = cv2.GaussianBlur(rng.uniform(0, 255, (120, 160)).astype(np.float32), (0, 0), 2.0)
    img1 = cv2.normalize(img1, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    warp = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    return img1, cv2.warpAffine(img1, warp, (160, 120), flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REFLECT)


def test_features_wait_for_their_image_and_are_refined_or_counted_unpaired():
    """The stamp pairing: image after or before its features, and images that never come."""
    context = Context()
    rclpy.init(context=context)
    try:
        matcher = MatcherNode(context=context)
        matcher._follow_matches_subscribers()            # refine='lk': images subscribed now
        img1, img2 = _textured_pair()
        xs, ys = np.meshgrid(np.arange(30, 131, 12), np.arange(25, 96, 12))
        p1 = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
        rng = np.random.default_rng(1)
        p2 = p1 + (2.3, -1.7) + rng.uniform(-1, 1, p1.shape).astype(np.float32)
        desc = rng.standard_normal((len(p1), 32)).astype(np.float32)

        def features(sec: int, points: np.ndarray) -> Features:
            header = frame_header(sec)
            return messages.features(header, 160, 120, points, np.ones(len(points)), desc,
                                     'test', 'test')

        def image(sec: int, pixels: np.ndarray) -> Image:
            return messages.image_msg(frame_header(sec), pixels, 'mono8')

        matcher._on_features(features(1, p1))            # features first, image later
        assert matcher._last['frames'] == 0
        matcher._on_image(image(1, img1))
        matcher._on_image(image(2, img2))                 # image first, features later
        matcher._on_features(features(2, p2))
        assert matcher._last['frames'] == 2 and matcher._last['unpaired'] == 0
        assert matcher._last['matches'] == len(p1)
        assert matcher._last['refined'] >= 0.9 * len(p1)
        # Images that never come: each waiting frame is matched unrefined once PENDING are queued.
        for sec in range(3, 3 + PENDING + 2):
            matcher._on_features(features(sec, p2))
        assert matcher._last['unpaired'] == 2 and matcher._last['frames'] == 4
        assert matcher._last['refined'] == 'no image'
        # The newest frame's image: the PENDING - 1 older ones waiting are matched unpaired first.
        matcher._on_image(image(3 + PENDING + 1, img2))
        assert matcher._last['frames'] == 4 + PENDING
        assert matcher._last['unpaired'] == 2 + PENDING - 1
        # Refinement needs both frames' images; frame 11 had none.
        assert matcher._last['refined'] == 'no image'
        # A frame whose image does not come is matched unrefined after image_wait seconds.
        frames = matcher._last['frames']
        matcher._on_features(features(100, p2))
        matcher._expire_pending(time.monotonic())             # not waited long enough yet
        assert matcher._last['frames'] == frames
        matcher._expire_pending(time.monotonic() + 0.6)       # image_wait is 0.5 s
        assert matcher._last['frames'] == frames + 1 and not matcher._pending
        matcher.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def frame_header(sec: int):
    from std_msgs.msg import Header
    header = Header(frame_id='cam')
    header.stamp.sec = sec
    return header
