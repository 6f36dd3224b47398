"""
elf_matcher: match each frame's features with the previous frame's, show it, estimate motion.

Subscribes to one camera's `features` (elf_ros/Features). Per frame it matches the descriptors
with the previous frame's (core matcher: mutual nearest neighbours, optional ratio and distance)
and publishes:
- `matches` (sensor_msgs/Image, rgb8, the source header): the current frame with a line from
  each matched keypoint to its position in the previous frame, inliers green, outliers red
  (yellow when no pose was estimated). Built only while someone subscribes; only then is the
  image topic subscribed too, and images are paired with features by header stamp.
- `/diagnostics`: matches and inliers of the last frame, rate.
- with `camera_info_topic` set: `motion` (geometry_msgs/TransformStamped). header = the current
  frame's header; child_frame_id = `<frame_id>_previous`; the transform maps points of the
  previous camera to the current one: p_current = R p_previous + t. The translation has unit
  length: a monocular essential matrix gives its direction only, never its scale.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import math
import sys
from typing import Any

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from elf_ros.core import estimate_relative_pose, match_descriptors, MIN_POINTS
from elf_ros.formats.images import ImageConversionError, to_detector_image
from elf_ros.msg import Features
from elf_ros.ros import messages
from elf_ros.ros.shutdown import run_node
from elf_ros.ros.stats import RateMeter

PARAMETERS = {
    'features_topic': ('features', 'Features of one camera (elf_node output).'),
    'image_topic': ('image', 'Its image topic, subscribed only while `matches` has '
                    'subscribers.'),
    'camera_info_topic': ('', "sensor_msgs/CameraInfo of that camera; '' = no pose."),
    'ratio': (1.0, "Lowe's ratio test, 1.0 = off."),
    'max_distance': (0.0, 'Largest descriptor distance of a match, 0 = no limit.'),
    'ransac_threshold': (1.0, 'Essential-matrix inlier threshold in pixels (MAGSAC).'),
    'min_inliers': (15, 'Fewer inliers: no motion is published for that frame.'),
    'device': ('cpu', 'Torch device of the matcher (cpu, cuda, cuda:N).'),
    'diagnostics_period': (1.0, 'Seconds between /diagnostics messages.'),
}
INLIER, OUTLIER, UNKNOWN = (0, 220, 0), (230, 40, 40), (240, 200, 0)
PENDING = 8  # frames kept while waiting for the image or features of the same stamp


@dataclass
class FrameMatches:
    """What the matches image of one frame needs."""

    current: np.ndarray    # (K, 2) matched keypoints in this frame
    previous: np.ndarray   # (K, 2) their positions in the previous frame
    inliers: np.ndarray | None  # (K,) bool, None without a pose
    keypoints: np.ndarray  # (N, 2) all keypoints of this frame


def stamp_of(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


def draw_matches(image: np.ndarray, frame: FrameMatches) -> np.ndarray:
    """RGB copy of `image` with the frame's keypoints and match lines (see the module doc)."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    for x, y in np.rint(frame.keypoints).astype(int).tolist():
        cv2.circle(canvas, (x, y), 2, (80, 160, 255), 1, cv2.LINE_AA)
    cur = np.rint(frame.current).astype(int).tolist()
    prev = np.rint(frame.previous).astype(int).tolist()
    for k, (a, b) in enumerate(zip(cur, prev, strict=True)):
        colour = UNKNOWN if frame.inliers is None else (
            INLIER if frame.inliers[k] else OUTLIER)
        cv2.line(canvas, tuple(a), tuple(b), colour, 1, cv2.LINE_AA)
    return canvas


class MatcherNode(Node):
    """Frame-to-frame matching of one camera's features; see the module docstring."""

    def close(self, timeout: float = 1.0) -> bool:  # noqa: ARG002 - shutdown.Stoppable
        """Nothing runs outside the executor's callbacks, so there is nothing to wait for."""
        return True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_matcher', **kwargs)
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=text,
                                                                      read_only=True))
        get = self._param
        if not 0 < get('ratio') <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {get('ratio')}")
        for name in ('ransac_threshold', 'diagnostics_period'):
            if get(name) <= 0:
                raise ValueError(f'{name} must be positive, got {get(name)}')
        if get('min_inliers') < 5 or get('max_distance') < 0:
            raise ValueError('min_inliers must be at least 5 and max_distance at least 0, got '
                             f"{get('min_inliers')} and {get('max_distance')}")
        if not get('features_topic'):
            raise ValueError('features_topic must name a topic')
        self._max_distance = get('max_distance') if get('max_distance') > 0 else math.inf
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._matches = self.create_publisher(Image, 'matches', qos)
        self._motion = self.create_publisher(TransformStamped, 'motion', qos)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._camera_info: CameraInfo | None = None
        self._image_sub = None
        self._images: OrderedDict[tuple[int, int], Image] = OrderedDict()
        self._drawings: OrderedDict[tuple[int, int], tuple[Any, FrameMatches]] = OrderedDict()
        self._rate = RateMeter()
        self._last = {'matches': 0, 'inliers': 0, 'frames': 0, 'poses': 0}
        self.create_subscription(Features, get('features_topic'), self._on_features, qos)
        if get('camera_info_topic'):
            self.create_subscription(CameraInfo, get('camera_info_topic'),
                                     self._on_camera_info, qos)
        # Steady clock, as elf_node's diagnostics: under use_sim_time a paused bag (a /clock
        # that stands still) stopped ROS-time timers, so `matches` never got its images.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(0.2, self._follow_matches_subscribers, clock=steady)
        self.create_timer(float(get('diagnostics_period')), self._publish_diagnostics,
                          clock=steady)

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -- inputs ----------------------------------------------------------------------------
    def _follow_matches_subscribers(self) -> None:
        """Subscribe to the images only while someone looks at `matches`."""
        wanted = self._matches.get_subscription_count() > 0
        if wanted and self._image_sub is None:
            self._image_sub = self.create_subscription(
                Image, self._param('image_topic'), self._on_image,
                QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
        elif not wanted and self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None
            self._images.clear()
            self._drawings.clear()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_image(self, msg: Image) -> None:
        key = stamp_of(msg.header)
        if key in self._drawings:
            self._publish_drawing(msg, self._drawings.pop(key)[1])
            return
        _bounded_put(self._images, key, msg)

    def _on_features(self, msg: Features) -> None:
        self._rate.tick()
        try:
            keypoints, _, descriptors = messages.features_from_msg(msg)
        except ValueError as err:
            self.get_logger().warning(f'ignoring a malformed Features message: {err}')
            return
        previous, self._previous = self._previous, (keypoints, descriptors)
        self._last['frames'] += 1
        empty = np.zeros((0, 2), np.float32)
        frame = FrameMatches(empty, empty, None, keypoints)
        if previous is not None and previous[1].shape[1] == descriptors.shape[1]:
            frame = self._match(msg, previous, keypoints, descriptors)
        if self._image_sub is None:
            return
        key = stamp_of(msg.header)
        if key in self._images:
            self._publish_drawing(self._images.pop(key), frame)
        else:
            _bounded_put(self._drawings, key, (msg.header, frame))

    # -- matching and motion ---------------------------------------------------------------
    def _match(self, msg: Features, previous: tuple[np.ndarray, np.ndarray],
               keypoints: np.ndarray, descriptors: np.ndarray) -> FrameMatches:
        m = match_descriptors(previous[1], descriptors, ratio=float(self._param('ratio')),
                              max_distance=self._max_distance, device=self._param('device'))
        prev_xy, cur_xy = previous[0][m.pairs[:, 0]], keypoints[m.pairs[:, 1]]
        self._last['matches'], self._last['inliers'] = len(m), 0
        inliers = None
        info = self._camera_info
        if info is not None and len(m) >= MIN_POINTS:
            camera_matrix = np.array(info.k, dtype=np.float64).reshape(3, 3)
            distortion = np.array(info.d, dtype=np.float64) if info.distortion_model in (
                'plumb_bob', 'rational_polynomial') and len(info.d) else None
            pose = estimate_relative_pose(prev_xy, cur_xy, camera_matrix, distortion,
                                          threshold=float(self._param('ransac_threshold')))
            if pose is not None:
                inliers = pose.inliers
                self._last['inliers'] = int(inliers.sum())
                if inliers.sum() >= self._param('min_inliers'):
                    self._publish_motion(msg.header, pose.rotation, pose.translation)
        return FrameMatches(cur_xy, prev_xy, inliers, keypoints)

    def _publish_motion(self, header, rotation: np.ndarray, translation: np.ndarray) -> None:
        out = TransformStamped()
        out.header = header
        out.child_frame_id = f'{header.frame_id}_previous'
        out.transform.translation.x, out.transform.translation.y, out.transform.translation.z = (
            float(v) for v in translation)
        q = rotation_to_quaternion(rotation)
        rot = out.transform.rotation
        rot.x, rot.y, rot.z, rot.w = (float(v) for v in q)
        self._motion.publish(out)
        self._last['poses'] += 1

    # -- outputs ---------------------------------------------------------------------------
    def _publish_drawing(self, image_msg: Image, frame: FrameMatches) -> None:
        try:
            image = to_detector_image(image_msg)
        except ImageConversionError as err:
            self.get_logger().warning(f'cannot draw matches: {err}', throttle_duration_sec=10)
            return
        drawn = draw_matches(image, frame)
        self._matches.publish(messages.image_msg(image_msg.header, drawn, 'rgb8'))

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        status = DiagnosticStatus(name=f'{self.get_fully_qualified_name()}: '
                                  f"{self._param('features_topic')}", hardware_id='elf_matcher')
        if self._last['frames'] == 0:
            status.level, status.message = DiagnosticStatus.STALE, 'no features received yet'
        else:
            status.level, status.message = DiagnosticStatus.OK, 'matching'
        values = {'rate_hz': f'{self._rate.rate():.2f}', 'frames': self._last['frames'],
                  'matches': self._last['matches'], 'inliers': self._last['inliers'],
                  'poses_published': self._last['poses'],
                  'camera_info': self._camera_info is not None}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg.status.append(status)
        self._diagnostics.publish(msg)


def _bounded_put(store: OrderedDict, key: Any, value: Any) -> None:
    store[key] = value
    while len(store) > PENDING:
        store.popitem(last=False)


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion of a rotation matrix (w >= 0)."""
    m = np.asarray(rotation, dtype=np.float64)
    w = math.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2,
                      m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2,
                      m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2,
                      m[1, 0] - m[0, 1])
    q = np.array([x, y, z, w])
    return q / np.linalg.norm(q)


def main(argv: list[str] | None = None) -> int:
    """
    Run the matcher until SIGINT/SIGTERM; exit status 1 with the reason when it cannot start.

    Same shutdown as elf_node (elf_ros.ros.shutdown): any number of signals, exit 0 within 2 s.
    """
    return run_node(MatcherNode, SingleThreadedExecutor, (ValueError,), 'elf_matcher',
                    sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
