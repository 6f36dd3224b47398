"""
elf_tracker: persistent feature tracks from one camera's ELF features, in VINS's format.

Subscribes to one camera's `features` (elf_ros/Features, from elf_node), its `camera_info`
and, for the LK refinement, its `image` (paired with the features by header stamp: elf_node
copies the image header into its features). The track manager (elf_ros/core/tracking.py)
links each frame to the previous one and publishes:
- `feature_tracks` (sensor_msgs/PointCloud, the source header): VINS-Fusion's feature message,
  points = undistorted normalised (x, y, 1), channels [id, camera id, u, v, vx, vy]; with
  `layout: mono` VINS-Mono's [id * num_cameras + camera id, u, v, vx, vy]. Remap it to
  `/feature_tracker/feature`.
- `tracks` (sensor_msgs/Image rgb8): the frame with each track's tail, coloured by length (red:
  new, blue: 20 frames or more). Built only while subscribed.
- `/diagnostics`: tracks alive, new per frame, median length, frames without a pair.
Without a usable camera_info nothing is published and a warning says why: VINS needs
normalised coordinates, and raw pixels are not passed off as such.
"""
from __future__ import annotations

import array
import sys
import time
from typing import Any

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point32
import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, ChannelFloat32, Image, PointCloud

from elf_ros.core import (
    CameraModel,
    CameraModelError,
    ids_exact,
    TrackerConfig,
    TrackFrame,
    TrackManager,
    vins_columns,
    VINS_LAYOUTS,
)
from elf_ros.msg import Features
from elf_ros.ros import messages
from elf_ros.ros.frame_input import follow_images, read_frame
from elf_ros.ros.params import ReadOnlyParametersNode
from elf_ros.ros.shutdown import run_node
from elf_ros.ros.stamp_pairing import stamp_of, StampPairer
from elf_ros.ros.stats import RateMeter

_DEFAULTS = TrackerConfig()  # the tracker's settings are defined once, in the core
PARAMETERS = {
    'features_topic': ('features', 'Features of one camera (elf_node output).'),
    'image_topic': ('image', 'Its image topic: for the LK refinement (refine: true) and the '
                    '`tracks` image; paired with the features by header stamp.'),
    'camera_info_topic': ('camera_info', 'Its sensor_msgs/CameraInfo (plumb_bob, '
                          'rational_polynomial or equidistant). Required: no output without.'),
    'max_cnt': (_DEFAULTS.max_tracks, 'Living tracks per frame (VINS max_cnt).'),
    'min_dist': (_DEFAULTS.min_distance, 'Pixels between two tracked points (VINS min_dist).'),
    'f_threshold': (_DEFAULTS.f_threshold, 'Fundamental-matrix RANSAC threshold, pixels '
                    '(VINS F_threshold); 0 = off.'),
    'refine': (_DEFAULTS.refine, 'LK sub-pixel refinement of matched positions (subscribes '
               'to the image).'),
    'bridge': (_DEFAULTS.bridge, 'Frames a track may go on by LK without a matched detection '
               '(needs the image); 0 = only matched detections.'),
    'ratio': (_DEFAULTS.ratio, "Lowe's ratio test on top of mutual nearest neighbours, "
              '1.0 = off.'),
    'layout': ('fusion', 'PointCloud layout: fusion (VINS-Fusion) or mono (VINS-Mono).'),
    'camera_id': (0, 'Camera index written into the message (VINS: 0 = left).'),
    'num_cameras': (1, 'VINS NUM_OF_CAM, for the mono layout id encoding.'),
    'device': ('cpu', 'Torch device of the matcher (cpu, cuda, cuda:N).'),
    'diagnostics_period': (1.0, 'Seconds between /diagnostics messages.'),
}
PENDING = 30  # frames kept while waiting for the image (or features) of the same stamp


def track_colours(lengths: np.ndarray) -> np.ndarray:
    """(M, 3) RGB like VINS's drawTrack: red for new tracks, blue from 20 frames on."""
    share = np.minimum(1.0, lengths / 20.0)
    return np.column_stack((255 * (1 - share), np.zeros_like(share), 255 * share)).astype(int)


def draw_tracks(image: np.ndarray, frame: TrackFrame) -> np.ndarray:
    """RGB copy of `image` with each track's tail and current position."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    colours = track_colours(frame.lengths).tolist()
    for tail, colour in zip(frame.tails, colours, strict=True):
        points = np.rint(tail[np.isfinite(tail).all(axis=1)]).astype(np.int32)
        if len(points) > 1:
            cv2.polylines(canvas, [points.reshape(-1, 1, 2)], False, colour, 1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(points[-1].tolist()), 2, colour, 2, cv2.LINE_AA)
    return canvas


def pointcloud_msg(header, frame: TrackFrame, layout: str, camera_id: int,
                   num_cameras: int) -> PointCloud:
    """Build the VINS feature message of one frame (see elf_ros/core/vins_format.py)."""
    columns = vins_columns(frame, layout, camera_id, num_cameras)
    msg = PointCloud()
    msg.header = header
    msg.points = [Point32(x=x, y=y, z=z) for x, y, z in columns.points.tolist()]
    channels = []
    for name, values in zip(columns.names, columns.channels, strict=True):
        data = array.array('f')
        data.frombytes(np.ascontiguousarray(values, '<f4').tobytes())
        channels.append(ChannelFloat32(name=name, values=data))
    msg.channels = channels
    return msg


class TrackerNode(ReadOnlyParametersNode):
    """Feature tracks of one camera; see the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_tracker', PARAMETERS, **kwargs)
        get = self._param
        if get('layout') not in VINS_LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(VINS_LAYOUTS)}, got "
                             f"{get('layout')!r}")
        if get('num_cameras') < 1 or not 0 <= get('camera_id') < get('num_cameras'):
            raise ValueError('camera_id must be in [0, num_cameras), got '
                             f"{get('camera_id')} of {get('num_cameras')}")
        if get('diagnostics_period') <= 0:
            raise ValueError(f"diagnostics_period must be positive, got "
                             f"{get('diagnostics_period')}")
        for name in ('features_topic', 'camera_info_topic'):
            if not get(name):
                raise ValueError(f'{name} must name a topic')
        self._config = TrackerConfig(
            max_tracks=int(get('max_cnt')), min_distance=float(get('min_dist')),
            f_threshold=float(get('f_threshold')), refine=bool(get('refine')),
            bridge=int(get('bridge')),
            ratio=float(get('ratio')), device=str(get('device')))
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._cloud = self.create_publisher(PointCloud, 'feature_tracks', qos)
        self._tracks = self.create_publisher(Image, 'tracks', qos)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._manager: TrackManager | None = None
        self._camera_problem = f"no camera_info received on {get('camera_info_topic')} yet"
        self._last_stamp: tuple[int, int] | None = None
        self._image_sub = None
        # features wait for their image without a time limit, PENDING frames at most
        self._pending: StampPairer[Features, Image] = StampPairer(PENDING)
        self._rate = RateMeter()
        self._last: dict[str, Any] = {'frames': 0, 'published': 0, 'alive': 0, 'new': 0,
                                      'median_length': 0.0, 'retired': 0, 'unpaired': 0,
                                      'refused': 0}
        self.create_subscription(Features, get('features_topic'), self._on_features, qos)
        self.create_subscription(CameraInfo, get('camera_info_topic'), self._on_camera_info,
                                 qos)
        self._follow_subscribers()
        self.create_timer(0.2, self._follow_subscribers)
        self.create_timer(float(get('diagnostics_period')), self._publish_diagnostics)

    # -- inputs ----------------------------------------------------------------------------
    def _follow_subscribers(self) -> None:
        """Images are needed for refinement and bridging, or while someone looks at `tracks`."""
        wanted = (self._config.refine or self._config.bridge > 0
                  or self._tracks.get_subscription_count() > 0)
        self._image_sub = follow_images(self, self._image_sub, wanted, self._param('image_topic'),
                                        self._on_image, self._pending, self._process)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            camera = CameraModel.from_camera_info(msg.k, msg.d, msg.distortion_model)
        except CameraModelError as err:
            self._camera_problem = f"camera_info on {self._param('camera_info_topic')}: {err}"
            self._manager = None
            return
        self._camera_problem = ''
        if self._manager is None:
            self._manager = TrackManager(camera, self._config)
        else:
            self._manager.camera = camera

    def _on_image(self, msg: Image) -> None:
        self._process_ready(self._pending.put_image(stamp_of(msg.header), msg))

    def _on_features(self, msg: Features) -> None:
        self._rate.tick()
        if self._manager is None:
            self._last['refused'] += 1
            self.get_logger().warning(
                f'{self._camera_problem}: no feature tracks published (VINS needs '
                'undistorted normalised coordinates; raw pixel coordinates are not guessed)',
                throttle_duration_sec=5.0)
            return
        if self._image_sub is None:
            self._process(msg, None)
            return
        self._process_ready(self._pending.put_features(stamp_of(msg.header), msg,
                                                       time.monotonic()))

    def _process_ready(self, ready: list[tuple[Features, Image | None]]) -> None:
        """Track the paired frames; those whose image was lost are dropped, counted unpaired."""
        for msg, image_msg in ready:
            if image_msg is None:
                self._last['unpaired'] += 1
            else:
                self._process(msg, image_msg)

    # -- tracking --------------------------------------------------------------------------
    def _process(self, msg: Features, image_msg: Image | None) -> None:
        manager = self._manager
        if manager is None:
            return
        frame_input = read_frame(msg, image_msg, self.get_logger(),
                                 'tracking without the image')
        if frame_input is None:
            return
        keypoints, descriptors, image = frame_input
        key = stamp_of(msg.header)
        if self._last_stamp is not None and key <= self._last_stamp:
            self.get_logger().warning('time went backwards (a bag restarted?): tracks restart')
            manager.reset()
        self._last_stamp = key
        try:
            frame = manager.step(keypoints, descriptors, key[0] + 1e-9 * key[1], image)
        except (ValueError, cv2.error) as err:
            self.get_logger().warning(f'frame not tracked, tracks restart: {err}',
                                      throttle_duration_sec=10)
            manager.reset()
            return
        layout = self._param('layout')
        if not ids_exact(frame, layout, self._param('num_cameras')):
            self.get_logger().warning('track ids passed 2**24: float32 channels no longer hold '
                                      'them exactly', throttle_duration_sec=60)
        self._cloud.publish(pointcloud_msg(msg.header, frame, layout,
                                           self._param('camera_id'),
                                           self._param('num_cameras')))
        self._last.update(frames=self._last['frames'] + 1,
                          published=self._last['published'] + 1, alive=len(frame),
                          new=int(frame.new.sum()), retired=frame.retired,
                          median_length=float(np.median(frame.lengths)) if len(frame) else 0.0)
        if image is not None and self._tracks.get_subscription_count() > 0:
            self._tracks.publish(messages.image_msg(msg.header, draw_tracks(image, frame),
                                                    'rgb8'))

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        status = DiagnosticStatus(name=f'{self.get_fully_qualified_name()}: '
                                  f"{self._param('features_topic')}", hardware_id='elf_tracker')
        if self._manager is None:
            status.level, status.message = DiagnosticStatus.WARN, (
                f'{self._camera_problem}: no tracks published')
        elif self._last['frames'] == 0:
            waiting = (f" and images on {self._param('image_topic')}"
                       if self._image_sub is not None else '')
            status.level, status.message = DiagnosticStatus.STALE, (
                f'waiting for features{waiting}')
        else:
            status.level, status.message = DiagnosticStatus.OK, 'tracking'
        values = {'rate_hz': f'{self._rate.rate():.2f}', **self._last,
                  'camera_info': self._manager is not None,
                  'next_track_id': self._manager.next_id if self._manager else 0}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg.status.append(status)
        self._diagnostics.publish(msg)


def main(argv: list[str] | None = None) -> int:
    """Run the tracker until SIGINT/SIGTERM; exit status 1 with the reason when it cannot start."""
    return run_node(TrackerNode, SingleThreadedExecutor, (ValueError,), 'elf_tracker',
                    sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
