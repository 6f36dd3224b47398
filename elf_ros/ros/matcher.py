"""
elf_matcher: match each frame's features with the previous frame's, show it, estimate motion.

Subscribes to one camera's `features` (elf_ros/Features). Per frame it matches the descriptors
with the previous frame's (core matcher: mutual nearest neighbours, optional ratio and distance),
optionally refines the matched positions with LK on the images (`refine`, the core's
`refine_stage`) and publishes:
- `matches` (sensor_msgs/Image, rgb8, the source header): the current frame with a line from
  each matched keypoint to its position in the previous frame, inliers green, outliers red
  (yellow when no pose was estimated). Built only while someone subscribes (see Images below).
- `/diagnostics`: matches and inliers of the last frame, rate.
- with `camera_info_topic` set: `motion` (from the refined matches; when LK leaves too few
  for `min_inliers`, e.g. on a wide baseline, from the matches as matched if those support the
  pose better, counted as `unrefined_poses`) (geometry_msgs/TransformStamped). header = the
  current frame's header; child_frame_id = `<frame_id>_previous`; the transform maps points of the
  previous camera to the current one: p_current = R p_previous + t. The translation has unit
  length: a monocular essential matrix gives its direction only, never its scale.

Images: Features messages carry no pixels, so while `refine` is on or `matches` has subscribers
the matcher subscribes to `image_topic` and pairs each Features message with the image of the
same header stamp. A Features message waits for its image (at most `image_wait` seconds and
PENDING frames, then it is matched unrefined and counted as `unpaired_frames`: images are
subscribed best effort, as elf_node does, and a lost one must not stall the motion); images
wait for their features the same way (PENDING frames). Frames are processed in the order their
features arrive.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import sys
import time
from typing import Any

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from elf_ros.core import (
    estimate_relative_pose,
    match_descriptors,
    MIN_POINTS,
    refine_stage,
    RefineConfig,
    RelativePose,
)
from elf_ros.msg import Features
from elf_ros.ros import messages
from elf_ros.ros.frame_input import follow_images, read_frame
from elf_ros.ros.params import ReadOnlyParametersNode
from elf_ros.ros.shutdown import run_node
from elf_ros.ros.stamp_pairing import stamp_of, StampPairer
from elf_ros.ros.stats import RateMeter

PARAMETERS = {
    'features_topic': ('features', 'Features of one camera (elf_node output).'),
    'image_topic': ('image', 'Its image topic, subscribed while `refine` is on or `matches` '
                    'has subscribers; paired with the features by header stamp.'),
    'image_wait': (0.5, 'Seconds a Features message waits for its image before it is '
                   'matched unrefined.'),
    'refine': ('lk', "Sub-pixel refinement of the matched positions: 'lk' (LK on the images, "
               "drops matches it cannot confirm) or 'none'."),
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
REFINE_MODES = ('lk', 'none')


@dataclass
class FrameMatches:
    """What the matches image of one frame needs."""

    current: np.ndarray    # (K, 2) matched keypoints in this frame
    previous: np.ndarray   # (K, 2) their positions in the previous frame
    inliers: np.ndarray | None  # (K,) bool, None without a pose
    keypoints: np.ndarray  # (N, 2) all keypoints of this frame


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


class MatcherNode(ReadOnlyParametersNode):
    """Frame-to-frame matching of one camera's features; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_matcher', PARAMETERS, **kwargs)
        get = self._param
        if not 0 < get('ratio') <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {get('ratio')}")
        for name in ('ransac_threshold', 'diagnostics_period', 'image_wait'):
            if get(name) <= 0:
                raise ValueError(f'{name} must be positive, got {get(name)}')
        if get('min_inliers') < 5 or get('max_distance') < 0:
            raise ValueError('min_inliers must be at least 5 and max_distance at least 0, got '
                             f"{get('min_inliers')} and {get('max_distance')}")
        if not get('features_topic'):
            raise ValueError('features_topic must name a topic')
        if get('refine') not in REFINE_MODES:
            raise ValueError(f"refine must be one of {', '.join(REFINE_MODES)}, got "
                             f"{get('refine')!r}")
        self._refine = RefineConfig() if get('refine') == 'lk' else None
        self._max_distance = get('max_distance') if get('max_distance') > 0 else math.inf
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._matches = self.create_publisher(Image, 'matches', qos)
        self._motion = self.create_publisher(TransformStamped, 'motion', qos)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # keypoints (N, 2), descriptors (N, D), grey image or None of the previous frame
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._camera_info: CameraInfo | None = None
        self._image_sub = None
        self._pending: StampPairer[Features, Image] = StampPairer(PENDING,
                                                                  float(get('image_wait')))
        self._rate = RateMeter()
        self._last = {'matches': 0, 'refined': 0, 'inliers': 0, 'frames': 0, 'poses': 0,
                      'unpaired': 0, 'fallbacks': 0}
        self.create_subscription(Features, get('features_topic'), self._on_features, qos)
        if get('camera_info_topic'):
            self.create_subscription(CameraInfo, get('camera_info_topic'),
                                     self._on_camera_info, qos)
        # Steady clock, as elf_node's diagnostics: under use_sim_time a paused bag (a /clock
        # that stands still) stopped ROS-time timers, so `matches` never got its images.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(0.2, self._follow_matches_subscribers, clock=steady)
        self.create_timer(min(0.05, float(get('image_wait')) / 2), self._expire_pending,
                          clock=steady)
        self.create_timer(float(get('diagnostics_period')), self._publish_diagnostics,
                          clock=steady)

    # -- inputs ----------------------------------------------------------------------------
    def _follow_matches_subscribers(self) -> None:
        """Subscribe to the images while refining or while someone looks at `matches`."""
        wanted = self._refine is not None or self._matches.get_subscription_count() > 0
        self._image_sub = follow_images(self, self._image_sub, wanted, self._param('image_topic'),
                                        self._on_image, self._pending, self._process)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_image(self, msg: Image) -> None:
        self._process_ready(self._pending.put_image(stamp_of(msg.header), msg))

    def _on_features(self, msg: Features) -> None:
        self._rate.tick()
        if self._image_sub is None:
            self._process(msg, None)
            return
        self._process_ready(self._pending.put_features(stamp_of(msg.header), msg,
                                                       time.monotonic()))

    def _expire_pending(self, now: float | None = None) -> None:
        """Match unrefined, in order, the features that waited `image_wait` s for their image."""
        self._process_ready(self._pending.expire(time.monotonic() if now is None else now))

    def _process_ready(self, ready: list[tuple[Features, Image | None]]) -> None:
        """Match the paired frames; those whose image was lost unrefined, counted unpaired."""
        for msg, image_msg in ready:
            self._last['unpaired'] += image_msg is None
            self._process(msg, image_msg)

    def _process(self, msg: Features, image_msg: Image | None) -> None:
        """Match one frame with the previous one; draw it when its image is here."""
        frame_input = read_frame(msg, image_msg, self.get_logger())
        if frame_input is None:
            return
        keypoints, descriptors, image = frame_input
        previous, self._previous = self._previous, (keypoints, descriptors, image)
        self._last['frames'] += 1
        empty = np.zeros((0, 2), np.float32)
        frame = FrameMatches(empty, empty, None, keypoints)
        if previous is not None and previous[1].shape[1] == descriptors.shape[1]:
            frame = self._match(msg, previous, keypoints, descriptors, image)
        if image is not None and self._matches.get_subscription_count() > 0:
            self._matches.publish(messages.image_msg(image_msg.header, draw_matches(image, frame),
                                                     'rgb8'))

    # -- matching and motion ---------------------------------------------------------------
    def _match(self, msg: Features, previous: tuple[np.ndarray, np.ndarray, np.ndarray | None],
               keypoints: np.ndarray, descriptors: np.ndarray,
               image: np.ndarray | None) -> FrameMatches:
        m = match_descriptors(previous[1], descriptors, ratio=float(self._param('ratio')),
                              max_distance=self._max_distance, device=self._param('device'))
        # Refined only when both frames' images are here (previous[2] and image).
        matched = refine_stage(previous[0], keypoints, m, previous[2], image, self._refine)
        prev_xy, cur_xy = matched.points1, matched.points2
        self._last['matches'], self._last['inliers'] = len(m), 0
        self._last['refined'] = len(matched) if matched.refined else 'no image'
        inliers = None
        info = self._camera_info
        if info is not None:
            pose = self._pose(info, prev_xy, cur_xy)
            enough = int(self._param('min_inliers'))
            if matched.refined and (pose is None or pose.inliers.sum() < enough):
                # LK drops what it cannot follow (wide baselines): fall back to the matches
                # as matched when they give a better-supported pose.
                raw = refine_stage(previous[0], keypoints, m)
                raw_pose = self._pose(info, raw.points1, raw.points2)
                if raw_pose is not None and (pose is None
                                             or raw_pose.inliers.sum() > pose.inliers.sum()):
                    pose, prev_xy, cur_xy = raw_pose, raw.points1, raw.points2
                    self._last['fallbacks'] += 1
            if pose is not None:
                inliers = pose.inliers
                self._last['inliers'] = int(inliers.sum())
                if inliers.sum() >= enough:
                    self._publish_motion(msg.header, pose.rotation, pose.translation)
        return FrameMatches(cur_xy, prev_xy, inliers, keypoints)

    def _pose(self, info: CameraInfo, prev_xy: np.ndarray,
              cur_xy: np.ndarray) -> RelativePose | None:
        """Essential-matrix pose of (K, 2) matched positions with the camera's K and d."""
        if len(prev_xy) < MIN_POINTS:
            return None
        camera_matrix = np.array(info.k, dtype=np.float64).reshape(3, 3)
        distortion = np.array(info.d, dtype=np.float64) if info.distortion_model in (
            'plumb_bob', 'rational_polynomial') and len(info.d) else None
        return estimate_relative_pose(prev_xy, cur_xy, camera_matrix, distortion,
                                      threshold=float(self._param('ransac_threshold')))

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
                  'matches': self._last['matches'],
                  'refined': 'off' if self._refine is None else self._last['refined'],
                  'inliers': self._last['inliers'], 'unpaired_frames': self._last['unpaired'],
                  'unrefined_poses': self._last['fallbacks'],
                  'poses_published': self._last['poses'],
                  'camera_info': self._camera_info is not None}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg.status.append(status)
        self._diagnostics.publish(msg)


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
