"""image_replay plays a bag's image topic into DDS; an rclpy subscriber receives it."""
import os
from pathlib import Path
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from elf_ros.bag.pack import compressed_message, image_message, write_bag

from .bagdata import rgb

pytest.importorskip('rclpy', reason='needs ROS 2 (scripts/setup_env.sh)')
pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[2]
PERIOD_NS = 40_000_000  # recorded at 25 Hz


class Subscriber:
    """An rclpy subscription in a private context, spun in a thread; keeps every message."""

    def __init__(self, topic: str) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('bag_replay_probe', context=self.context)
        self.received: list[tuple[float, Image]] = []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(
            Image, topic, lambda m: self.received.append((time.monotonic(), m)), qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        import rclpy
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(5.0)


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'elf_ros.ros.replay', *args], cwd=REPO,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_recorded_frames_arrive_unchanged_at_the_recorded_timing(tmp_path, storage):
    frames = [rgb(i)[::4, ::4].copy() for i in range(6)]   # 160x120 real frames
    records = [('/cam/image_raw', 10**9 + i * PERIOD_NS,
                image_message(f, 'bgr8', 5 * 10**8 + i * PERIOD_NS, 'cam_optical', padding=2))
               for i, f in enumerate(frames)]
    records.append(('/other/image/compressed', 10**9,
                    compressed_message(frames[0], 'png', 1, 'other')))
    write_bag(tmp_path / 'bag', records, storage)
    topic = f'/replay{os.getpid()}_{storage}/image'
    sub = Subscriber(topic)
    try:
        run = replay(str(tmp_path / 'bag'), '--bag-topic', '/cam/image_raw', '--topic', topic)
        assert run.returncode == 0, run.stdout + run.stderr
        deadline = time.monotonic() + 10
        while len(sub.received) < len(frames) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.close()
    assert len(sub.received) == len(frames)
    for (_, msg), (_, _, recorded) in zip(sub.received, records, strict=False):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (
            recorded.header.stamp.sec, recorded.header.stamp.nanosec)
        assert msg.header.frame_id == 'cam_optical'
        assert (msg.encoding, msg.step, msg.width, msg.height) == ('bgr8', 160 * 3 + 2, 160, 120)
        assert bytes(msg.data) == recorded.data.tobytes()
    # Paced at the recorded timing: never faster (five gaps of 40 ms); the upper bound is left
    # to the load. Arrival times cannot show it: DDS delivers the first frames in a burst when
    # the subscriber finishes matching after the publisher already sees it.
    elapsed = float(re.search(r'published 6 frames on \S+ in ([\d.]+) s', run.stderr).group(1))
    assert elapsed >= 0.15


def test_compressed_topic_is_decoded_and_a_bag_with_several_topics_needs_a_choice(tmp_path):
    frame = rgb(3)[::4, ::4].copy()
    write_bag(tmp_path / 'bag', [
        ('/cam/image_raw/compressed', 1, compressed_message(frame, 'png', 7, 'cam')),
        ('/left/image', 2, image_message(frame, 'rgb8', 8, 'left'))])
    run = replay(str(tmp_path / 'bag'), '--wait-subscribers', '0')
    assert run.returncode == 2 and 'choose one with --bag-topic' in run.stderr
    run = replay(str(tmp_path / 'bag'), '--bag-topic', '/nope', '--wait-subscribers', '0')
    assert run.returncode == 2 and '/nope is not in the bag' in run.stderr
    topic = f'/replay{os.getpid()}_c/image'
    sub = Subscriber(topic)
    try:
        run = replay(str(tmp_path / 'bag'), '--bag-topic', '/cam/image_raw/compressed',
                     '--topic', topic, '--rate', '50', '--restamp')
        assert run.returncode == 0, run.stdout + run.stderr
        deadline = time.monotonic() + 10
        while not sub.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.close()
    (_, msg), = sub.received
    assert msg.encoding == 'rgb8' and msg.header.frame_id == 'cam'
    assert msg.header.stamp.sec > 10**9            # restamped with the publish time
    pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(120, 160, 3)
    np.testing.assert_array_equal(pixels, frame)   # png is lossless


def test_help_names_the_large_frames_profile_which_is_used_unless_one_is_set():
    """Without the 16 MB segment most 640x480 frames were lost between processes (0.4 Hz)."""
    from elf_ros.ros.replay import use_large_frames_profile

    done = replay('--help')
    assert done.returncode == 0
    assert 'FASTDDS_DEFAULT_PROFILES_FILE' in done.stdout
    assert 'config/fastdds_large_frames.xml' in done.stdout
    env = {}
    chosen = use_large_frames_profile(env)
    assert env == {'FASTDDS_DEFAULT_PROFILES_FILE': chosen}
    assert Path(chosen).read_bytes() == (REPO / 'config' / 'fastdds_large_frames.xml').read_bytes()
    mine = {'FASTDDS_DEFAULT_PROFILES_FILE': '/my/profile.xml'}
    assert use_large_frames_profile(mine) is None
    assert mine == {'FASTDDS_DEFAULT_PROFILES_FILE': '/my/profile.xml'}
