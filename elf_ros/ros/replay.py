"""
A camera stand-in: plays images, a video or a rosbag2's image topic as sensor_msgs/Image.

Folder and video frames go out at a fixed rate, stamped with the publish time (as a driver
stamps at capture), so a receiver can measure end-to-end latency from the header alone. A bag
(rosbag2 folder, .mcap or .db3; read with `rosbags`, no ROS install needed for that part) plays
at its recorded timing or a given rate, with its recorded headers unless --restamp; raw Images
go out as recorded (encoding, step and byte order kept), CompressedImages decoded to --encoding.
It waits until something subscribes, so a slow-starting node does not miss the start of a
short sequence.
"""
from __future__ import annotations

import argparse
import array
from collections.abc import Iterator
import os
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

from elf_ros.formats.images import image_from_rgb, SUPPORTED_ENCODINGS

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.pgm', '.ppm', '.bmp', '.tif', '.tiff')
DEFAULT_SEQUENCE = 'tum_fr2_desk'
DEFAULT_RATE = 10.0
BAG_SUFFIXES = ('.mcap', '.db3')
LARGE_FRAMES_PROFILE = 'fastdds_large_frames.xml'
HELP_EPILOG = """\
Fast DDS: a 640x480 frame (900 KB) is larger than Fast DDS's default shared-memory segment, so
without a larger one most frames are lost between processes (here: 0.4 Hz of features instead of
2 Hz beside `ros2 launch elf_ros elf.launch.py`). image_replay therefore uses the package's
config/fastdds_large_frames.xml (16 MB segment, as the launch file does) unless
FASTDDS_DEFAULT_PROFILES_FILE is already set; export the same profile for the other processes
you start yourself (docs/node.md, "Large frames and Fast DDS"):
  export FASTDDS_DEFAULT_PROFILES_FILE=<share>/config/fastdds_large_frames.xml
where <share> is $(ros2 pkg prefix elf_ros)/share/elf_ros.
"""


def default_source() -> Path:
    """Find the shipped demo frames: source checkout first, else the installed share."""
    checkout = Path(__file__).resolve().parents[2] / 'data' / DEFAULT_SEQUENCE
    if checkout.is_dir():
        return checkout
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('elf_ros')) / 'data' / DEFAULT_SEQUENCE


def large_frames_profile() -> Path:
    """Return the package's Fast DDS profile with a 16 MB shared-memory segment (docs/node.md)."""
    checkout = Path(__file__).resolve().parents[2] / 'config' / LARGE_FRAMES_PROFILE
    if checkout.is_file():
        return checkout
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('elf_ros')) / 'config' / LARGE_FRAMES_PROFILE


def use_large_frames_profile(environ: dict) -> str | None:
    """Point Fast DDS at the large-frame profile unless the user chose one; return its path."""
    if environ.get('FASTDDS_DEFAULT_PROFILES_FILE'):
        return None
    environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(large_frames_profile())
    return environ['FASTDDS_DEFAULT_PROFILES_FILE']


def is_bag(source: Path) -> bool:
    """Tell a rosbag2 (folder with metadata.yaml, or one .mcap / .db3 file) from images."""
    if source.is_dir():
        return (source / 'metadata.yaml').is_file()
    return source.suffix.lower() in BAG_SUFFIXES


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

    def __init__(self, topic: str, frame_id: str, best_effort: bool, depth: int = 1) -> None:
        super().__init__('image_replay')
        reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
        self.frame_id = frame_id
        self.publisher = self.create_publisher(
            Image, topic, QoSProfile(depth=depth, reliability=reliability))

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

    def publish_recorded(self, recorded, compressed: bool, encoding: str, restamp: bool,
                         frame_id: str | None) -> Image:
        """
        Publish one recorded Image (as recorded) or CompressedImage (decoded to `encoding`).

        The recorded header is kept unless `restamp` (stamp = now); `frame_id` replaces the
        recorded one when given.
        """
        msg = Image()
        if compressed:
            from elf_ros.formats.compressed import decode_compressed
            pixels = decode_compressed(recorded)
            rgb = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if pixels.ndim == 2 else pixels
            image_from_rgb(msg, rgb, encoding)
        else:
            msg.height, msg.width = int(recorded.height), int(recorded.width)
            msg.encoding, msg.step = recorded.encoding, int(recorded.step)
            msg.is_bigendian = int(recorded.is_bigendian)
            data = array.array('B')  # from bytes: rclpy skips its per-element check
            data.frombytes(np.ascontiguousarray(recorded.data, dtype=np.uint8).tobytes())
            msg.data = data
        if restamp:
            msg.header.stamp = self.get_clock().now().to_msg()
        else:
            msg.header.stamp.sec = int(recorded.header.stamp.sec)
            msg.header.stamp.nanosec = int(recorded.header.stamp.nanosec)
        msg.header.frame_id = frame_id if frame_id is not None else recorded.header.frame_id
        self.publisher.publish(msg)
        return msg


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     epilog=HELP_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', nargs='?', type=Path, default=None,
                        help='folder of images, a video file, or a rosbag2 (folder, .mcap, .db3)'
                        ' (default: the shipped TUM frames)')
    parser.add_argument('--topic', default=None,
                        help="topic to publish on (default: 'image'; for a bag its recorded "
                        'image topic, without a /compressed suffix)')
    parser.add_argument('--bag-topic', default=None,
                        help="the bag's image topic to play (default: its only image topic)")
    parser.add_argument('--rate', type=float, default=None,
                        help='frames per second (default 10; for a bag: its recorded timing)')
    parser.add_argument('--restamp', action='store_true',
                        help='bag: stamp frames with the publish time instead of the recorded one')
    parser.add_argument('--loops', type=int, default=1, help='times to play the sequence')
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames (0: all)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='loop the sequence for this many seconds (overrides --loops)')
    parser.add_argument('--encoding', default='rgb8', choices=SUPPORTED_ENCODINGS,
                        help="pixel encoding of the published frames (default rgb8; a bag's "
                        'raw Images keep their own)')
    parser.add_argument('--frame-id', default=None,
                        help="header.frame_id of every frame (default 'camera'; a bag's own)")
    parser.add_argument('--best-effort', action='store_true', help='best-effort publisher QoS')
    parser.add_argument('--wait-subscribers', type=int, default=1,
                        help='wait for this many subscribers before playing (default 1)')
    parser.add_argument('--wait-timeout', type=float, default=120.0,
                        help='seconds to wait for them before giving up (default 120)')
    args = parser.parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        parser.error('--rate must be positive')
    return args


def play(node: ImageReplay, args: argparse.Namespace) -> int:
    """Publish the frames at the requested rate; returns how many went out."""
    source = args.source or default_source()
    if is_bag(source):
        bag = getattr(args, 'bag_source', None) or BagSource(source, args.bag_topic)
        return play_bag(node, bag, args)
    period = 1.0 / (args.rate or DEFAULT_RATE)
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


class BagSource:
    """One image topic of a bag: its name, type and the messages in receive-time order."""

    def __init__(self, path: Path, topic: str | None) -> None:
        from elf_ros.bag.naming import image_base
        from elf_ros.bag.reader import open_bag, select_topics
        from elf_ros.bag.typestore import COMPRESSED_IMAGE
        self.path = path
        with open_bag(path) as reader:
            topics = select_topics(reader, [topic] if topic else None)
        if len(topics) > 1:
            raise ValueError(f'{path} has several image topics ({", ".join(topics)}); '
                             'choose one with --bag-topic')
        self.topic = next(iter(topics.values()))
        self.compressed = self.topic.msgtype == COMPRESSED_IMAGE
        self.publish_topic = image_base(self.topic.name, self.topic.msgtype)

    def messages(self) -> Iterator[tuple[int, object]]:
        """(receive time ns, message) of the topic, in order."""
        from elf_ros.bag.reader import iter_messages, open_bag
        from elf_ros.bag.typestore import elf_typestore
        store = elf_typestore()
        with open_bag(self.path) as reader:
            for conn, timestamp, raw in iter_messages(reader, {self.topic.name: self.topic}):
                yield timestamp, store.deserialize_cdr(raw, conn.msgtype)


def play_bag(node: ImageReplay, bag: BagSource, args: argparse.Namespace) -> int:
    """Publish a bag's image topic at its recorded timing (or --rate); returns the count."""
    start = next_time = time.monotonic()
    sent, loop = 0, 0
    while loop < max(args.loops, 1) or args.duration:
        loop += 1
        loop_start, first = time.monotonic(), None
        for timestamp, recorded in bag.messages():
            if args.duration and time.monotonic() - start >= args.duration:
                return sent
            first = timestamp if first is None else first
            if args.rate:
                target = next_time
                next_time = max(next_time + 1.0 / args.rate, time.monotonic() - 1.0 / args.rate)
            else:  # recorded timing; after a stall, go on without a catch-up burst
                target = loop_start + (timestamp - first) / 1e9
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            node.publish_recorded(recorded, bag.compressed, args.encoding, args.restamp,
                                  args.frame_id)
            sent += 1
            if args.max_frames and sent >= args.max_frames:
                return sent
        if first is None:
            return sent
    return sent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args = parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    topic = args.topic or 'image'
    args.bag_source = None
    if args.source is not None and is_bag(args.source):
        try:
            args.bag_source = BagSource(args.source, args.bag_topic)
        except Exception as err:  # noqa: BLE001 - BagError, or rosbags missing
            print(f'image_replay: error: {err}', file=sys.stderr)
            return 2
        topic = args.topic or args.bag_source.publish_topic
    profile = use_large_frames_profile(os.environ)  # before rclpy creates the participant
    rclpy.init(args=argv)
    node = ImageReplay(topic, args.frame_id or 'camera', args.best_effort,
                       depth=10 if args.bag_source else 1)
    log = node.get_logger()
    if profile:
        log.info(f'Fast DDS profile for large frames: {profile} (FASTDDS_DEFAULT_PROFILES_FILE '
                 'was unset)')
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
