"""
A camera stand-in: plays a folder of images or a video file as sensor_msgs/Image at a fixed rate.

Frames are stamped with the publish time (as a driver stamps at capture), so a receiver can
measure end-to-end latency from the header alone. It waits until something subscribes, so a
slow-starting node does not miss the start of a short sequence.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
import sys
import time

import cv2
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from elf_ros.ros.image_conversion import image_from_rgb, SUPPORTED_ENCODINGS

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.pgm', '.ppm', '.bmp', '.tif', '.tiff')
DEFAULT_SEQUENCE = 'tum_fr2_desk'


def default_source() -> Path:
    """Find the shipped demo frames: source checkout first, else the installed share."""
    checkout = Path(__file__).resolve().parents[2] / 'data' / DEFAULT_SEQUENCE
    if checkout.is_dir():
        return checkout
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('elf_ros')) / 'data' / DEFAULT_SEQUENCE


def read_frames(source: Path) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a folder (sorted by name) or a video file, in order."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {source}')
        for path in files:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise OSError(f'cannot read image {path}')
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return
    if not source.is_file():
        raise FileNotFoundError(f'no such folder or video: {source}')
    video = cv2.VideoCapture(str(source))
    if not video.isOpened():
        raise OSError(f'OpenCV cannot open {source} as a video')
    try:
        while True:
            ok, bgr = video.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        video.release()


class ImageReplay(Node):
    """Publishes frames on `topic`, one every 1/rate seconds."""

    def __init__(self, topic: str, frame_id: str, best_effort: bool) -> None:
        super().__init__('image_replay')
        reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
        self.frame_id = frame_id
        self.publisher = self.create_publisher(
            Image, topic, QoSProfile(depth=1, reliability=reliability))

    def wait_for_subscribers(self, count: int, timeout: float) -> bool:
        """Spin until `count` subscriptions match (a node's subscription appears once ready)."""
        deadline = time.monotonic() + timeout
        while self.publisher.get_subscription_count() < count:
            if time.monotonic() > deadline:
                return False
            rclpy.spin_once(self, timeout_sec=0.05)
        return True

    def publish(self, rgb: np.ndarray, encoding: str) -> Image:
        """Publish one RGB frame packed as `encoding`, stamped now."""
        msg = image_from_rgb(Image(), rgb, encoding)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        self.publisher.publish(msg)
        return msg


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('source', nargs='?', type=Path, default=None,
                        help='folder of images or a video file (default: the shipped TUM frames)')
    parser.add_argument('--topic', default='image', help='topic to publish on (default: image)')
    parser.add_argument('--rate', type=float, default=10.0, help='frames per second (default 10)')
    parser.add_argument('--loops', type=int, default=1, help='times to play the sequence')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames (0: all)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='loop the sequence for this many seconds (overrides --loops)')
    parser.add_argument('--encoding', default='rgb8', choices=SUPPORTED_ENCODINGS,
                        help='pixel encoding of the published frames (default rgb8)')
    parser.add_argument('--frame-id', default='camera', help='header.frame_id of every frame')
    parser.add_argument('--best-effort', action='store_true', help='best-effort publisher QoS')
    parser.add_argument('--wait-subscribers', type=int, default=1,
                        help='wait for this many subscribers before playing (default 1)')
    parser.add_argument('--wait-timeout', type=float, default=120.0,
                        help='seconds to wait for them before giving up (default 120)')
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error('--rate must be positive')
    return args


def play(node: ImageReplay, args: argparse.Namespace) -> int:
    """Publish the frames at the requested rate; returns how many went out."""
    source = args.source or default_source()
    period = 1.0 / args.rate
    start = next_time = time.monotonic()
    sent, loop = 0, 0
    while loop < max(args.loops, 1) or args.duration:
        loop += 1
        for rgb in read_frames(source):
            if args.duration and time.monotonic() - start >= args.duration:
                return sent
            delay = next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # Keep the rate; after a stall, resume without a catch-up burst.
            next_time = max(next_time + period, time.monotonic() - period)
            node.publish(rgb, args.encoding)
            sent += 1
            if args.max_frames and sent >= args.max_frames:
                return sent
    return sent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args = parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = ImageReplay(args.topic, args.frame_id, args.best_effort)
    log = node.get_logger()
    try:
        if args.wait_subscribers and not node.wait_for_subscribers(
                args.wait_subscribers, args.wait_timeout):
            log.error(f'no subscriber on {node.publisher.topic_name} after {args.wait_timeout} s')
            return 2
        start = time.monotonic()
        sent = play(node, args)
        elapsed = time.monotonic() - start
        log.info(f'published {sent} frames on {node.publisher.topic_name} in {elapsed:.1f} s '
                 f'({sent / max(elapsed, 1e-9):.1f} Hz)')
        return 0 if sent else 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except (OSError, ValueError) as err:
        log.error(str(err))
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
