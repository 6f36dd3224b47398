"""Every elf_ros message survives a trip through Fast DDS to another process and back."""
import array
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy not installed (run scripts/setup_env.sh)')
msg = pytest.importorskip('elf_ros.msg',
                          reason='elf_ros messages not built (run scripts/setup_env.sh)')

from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

ECHO_SCRIPT = Path(__file__).with_name('echo_node.py')
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _header(frame: str) -> Header:
    header = Header(frame_id=frame)
    header.stamp.sec = 1311868169
    header.stamp.nanosec = 163498000
    return header


def _keypoint_array(count: int) -> 'msg.KeypointArray':
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 640, size=(count, 2)).astype(np.float32)
    scores = np.sort(rng.uniform(0, 1, size=count).astype(np.float32))[::-1]
    points = [msg.Keypoint(x=float(x), y=float(y), score=float(s))
              for (x, y), s in zip(xy, scores, strict=True)]
    return msg.KeypointArray(header=_header('camera_left'), image_width=640, image_height=480,
                             keypoints=points)


def _descriptor_array(rows: int, cols: int) -> tuple['msg.DescriptorArray', np.ndarray]:
    rng = np.random.default_rng(2)
    values = rng.standard_normal((rows, cols)).astype(np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    data = array.array('f')
    data.frombytes(values.tobytes())  # the fast path: no per-element checks
    message = msg.DescriptorArray(header=_header('camera_left'), backbone='vgg16', layer='pool3',
                                  rows=rows, cols=cols, data=data)
    return message, values


@pytest.fixture(scope='module')
def echo_peer():
    """Start the echo node in its own process and a test node here, both on Fast DDS."""
    process = subprocess.Popen([sys.executable, str(ECHO_SCRIPT)], stdout=subprocess.PIPE,
                               text=True, env=os.environ.copy())
    assert process.stdout.readline().strip() == 'echo ready'
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = Node('elf_ros_roundtrip_test', context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    process.terminate()
    process.wait(timeout=10)


def _round_trip(peer, name: str, message, timeout: float = 20.0):
    node, executor = peer
    received = []
    publisher = node.create_publisher(type(message), f'echo_in/{name}', QOS)
    subscription = node.create_subscription(type(message), f'echo_out/{name}',
                                            received.append, QOS)
    try:
        deadline = time.monotonic() + timeout
        while (publisher.get_subscription_count() == 0
               or subscription.get_publisher_count() == 0):
            assert time.monotonic() < deadline, f'echo node never matched on {name}'
            executor.spin_once(timeout_sec=0.05)
        last_sent = -1.0
        while not received:
            assert time.monotonic() < deadline, f'{name} did not come back within {timeout} s'
            # Matching is seen from our side first; resend in case the echo's side lagged.
            if time.monotonic() - last_sent > 2.0:
                publisher.publish(message)
                last_sent = time.monotonic()
            executor.spin_once(timeout_sec=0.05)
        return received[0]
    finally:
        node.destroy_publisher(publisher)
        node.destroy_subscription(subscription)


def test_keypoint_round_trip(echo_peer):
    sent = msg.Keypoint(x=12.25, y=479.5, score=0.875)
    assert _round_trip(echo_peer, 'Keypoint', sent) == sent


def test_keypoint_array_round_trip_keeps_header_size_and_order(echo_peer):
    sent = _keypoint_array(2000)
    got = _round_trip(echo_peer, 'KeypointArray', sent)
    assert got.header == sent.header
    assert (got.image_width, got.image_height) == (640, 480)
    assert got.keypoints == sent.keypoints


def test_big_descriptor_array_round_trip_is_bit_exact(echo_peer):
    sent, values = _descriptor_array(2000, 256)
    got = _round_trip(echo_peer, 'DescriptorArray', sent)
    assert got.header == sent.header
    assert (got.backbone, got.layer, got.rows, got.cols) == ('vgg16', 'pool3', 2000, 256)
    # rclpy hands float32[] back as array.array: read it without a per-element copy.
    assert isinstance(got.data, array.array) and got.data.typecode == 'f'
    back = np.frombuffer(got.data, dtype=np.float32).reshape(got.rows, got.cols)
    np.testing.assert_array_equal(back, values)


def test_empty_descriptor_array_round_trip(echo_peer):
    sent, _ = _descriptor_array(0, 256)
    got = _round_trip(echo_peer, 'DescriptorArray', sent)
    assert (got.rows, got.cols, len(got.data)) == (0, 256, 0)
