"""Keypoint size and angle (OpenCV meanings) in Keypoint, KeypointArray and Features messages."""
import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from elf_ros.msg import Features, Keypoint, KeypointArray  # noqa: E402
from elf_ros.ros.messages import (  # noqa: E402
    features,
    features_from_msg,
    keypoint_array,
    sizes_angles_from_msg,
)

pytestmark = pytest.mark.ros


def detections(n: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 320, (n, 2)).astype(np.float32)
    scores = np.sort(rng.uniform(0, 1, n).astype(np.float32))[::-1].copy()
    sizes = rng.uniform(10, 40, n).astype(np.float32)
    angles = rng.uniform(0, 360, n).astype(np.float32)
    desc = rng.standard_normal((n, 12)).astype(np.float32)
    return xy, scores, sizes, angles, desc / np.linalg.norm(desc, axis=1, keepdims=True)


def through_cdr(msg):
    """Serialise and deserialise with rclpy (what DDS and rosbag2 carry)."""
    return deserialize_message(serialize_message(msg), type(msg))


def test_a_default_keypoint_says_not_estimated():
    kp = Keypoint(x=1.0, y=2.0, score=0.5)
    assert (kp.size, kp.angle) == (0.0, -1.0)


@pytest.mark.parametrize('fmt', ['float32', 'uint8'])
def test_features_carry_sizes_and_angles_through_cdr(fmt):
    xy, scores, sizes, angles, desc = detections()
    msg = through_cdr(features(Header(frame_id='cam'), 320, 240, xy, scores, desc, 'b', 'l',
                               fmt, sizes, angles))
    got_xy, got_scores, _ = features_from_msg(msg)
    got_sizes, got_angles = sizes_angles_from_msg(msg)
    np.testing.assert_array_equal(got_xy, xy)
    np.testing.assert_array_equal(got_scores, scores)
    np.testing.assert_array_equal(got_sizes, sizes)
    np.testing.assert_array_equal(got_angles, angles)


def test_features_without_geometry_read_as_not_estimated():
    xy, scores, _, _, desc = detections()
    built = through_cdr(features(Header(), 320, 240, xy, scores, desc, 'b', 'l'))
    sizes, angles = sizes_angles_from_msg(built)
    assert (sizes == 0).all() and (angles == -1).all() and len(sizes) == len(xy)
    # An older producer leaves the arrays empty: the same reading.
    legacy = Features(scores=built.scores, keypoints=built.keypoints)
    sizes, angles = sizes_angles_from_msg(legacy)
    assert (sizes == 0).all() and (angles == -1).all() and len(sizes) == len(xy)


def test_keypoint_array_carries_sizes_and_angles_through_cdr():
    xy, scores, sizes, angles, _ = detections(5, seed=1)
    msg = through_cdr(keypoint_array(Header(), 320, 240, xy, scores, sizes, angles))
    assert isinstance(msg, KeypointArray)
    got_sizes, got_angles = sizes_angles_from_msg(msg)
    np.testing.assert_array_equal(got_sizes, sizes)
    np.testing.assert_array_equal(got_angles, angles)
    plain = keypoint_array(Header(), 320, 240, xy, scores)
    assert [(k.size, k.angle) for k in plain.keypoints] == [(0.0, -1.0)] * 5


def test_mismatched_lengths_are_refused():
    xy, scores, sizes, angles, desc = detections()
    with pytest.raises(ValueError, match='6 values for 7 keypoints'):
        features(Header(), 320, 240, xy, scores, desc, 'b', 'l', sizes=sizes[:6])
