"""
One camera's outputs: its publishers, the messages built from a detection, its refusals.

Every output is built only while someone subscribes (a KeypointArray costs one Python object
per keypoint) and carries the source image's header unchanged. `frame_timing` (a
DiagnosticArray per frame, stamped with the frame's header) tells where the frame's time went;
the node benchmark reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from elf_ros.core import ElfResult
from elf_ros.formats.topics import CameraTopics, sibling
from elf_ros.msg import DescriptorArray, Features, KeypointArray
from elf_ros.ros import messages
from elf_ros.ros.camera_info import CameraInfoError, normalised_keypoints
from elf_ros.ros.slot import Log
from elf_ros.ros.stats import CameraStats

MAX_LOGGED_REASONS = 10  # distinct refusal reasons logged per topic; later ones only counted
FRAME_TIMING = 'frame_timing'  # sibling topic of each input: per-frame timings (ms)
TIMING_KEYS = ('detect_ms', 'in_node_ms', 'waited_ms', 'publish_ms')


@dataclass
class OutputOptions:
    """How outputs are built; the switches may change while running (node parameters)."""

    descriptor_format: str = 'float32'
    publish_saliency: bool = True
    publish_debug_image: bool = True
    colour_saliency: bool = True


@dataclass
class Frame:
    """A received message and when it arrived (monotonic clock)."""

    msg: Any  # sensor_msgs/Image or CompressedImage
    received: float


@dataclass
class Camera:
    """One input topic, how its messages are converted, its publishers and its counters."""

    topics: CameraTopics
    convert: Callable[[Any], Any]
    keypoints: Publisher | None = None
    descriptors: Publisher | None = None
    saliency: Publisher | None = None
    debug_image: Publisher | None = None
    features: Publisher | None = None
    normalized: Publisher | None = None    # keypoints_normalized, with normalized_keypoints
    timing: Publisher | None = None        # frame_timing
    camera_info: CameraInfo | None = None  # newest one, with normalized_keypoints
    stats: CameraStats = field(default_factory=CameraStats)
    reasons_logged: set[str] = field(default_factory=set)
    diagnostic_name: str = ''
    last_sequence: dict[bytes, int] = field(default_factory=dict)
    missed: int = 0  # frames a publisher sent that never reached the callback

    # -- publishers --------------------------------------------------------------------------
    def create_publishers(self, node: Node, qos: QoSProfile, normalized: bool) -> None:
        topics = self.topics
        self.keypoints = node.create_publisher(KeypointArray, topics.keypoints, qos)
        self.descriptors = node.create_publisher(DescriptorArray, topics.descriptors, qos)
        self.saliency = node.create_publisher(Image, topics.saliency, qos)
        self.debug_image = node.create_publisher(Image, topics.debug_image, qos)
        self.features = node.create_publisher(Features, topics.features, qos)
        self.timing = node.create_publisher(DiagnosticArray, sibling(topics.input, FRAME_TIMING),
                                            qos)
        if normalized:
            self.normalized = node.create_publisher(
                KeypointArray, sibling(topics.input, 'keypoints_normalized'), qos)

    def destroy_publishers(self, node: Node) -> None:
        for pub in (self.keypoints, self.descriptors, self.saliency, self.debug_image,
                    self.features, self.normalized, self.timing):
            if pub is not None:
                node.destroy_publisher(pub)

    def wants_saliency(self) -> bool:
        return self.saliency.get_subscription_count() > 0

    # -- input bookkeeping -------------------------------------------------------------------
    def count_missed(self, info: dict) -> None:
        """
        Count gaps in a publisher's sequence numbers: frames the DDS reader dropped.

        A best-effort depth-1 subscription keeps only the newest sample too, so under load
        frames are superseded before the callback sees them; they are drops all the same.
        """
        sequence = info.get('publication_sequence_number')
        gid = info.get('publisher_gid')
        if not sequence or not gid:
            return
        key = bytes(gid['data'])
        last = self.last_sequence.get(key)
        if last is not None and sequence > last + 1:
            self.missed += sequence - last - 1
        self.last_sequence[key] = sequence

    def refuse(self, reason: str, log: Log) -> None:
        """Count a frame that cannot be processed; log each distinct reason once per topic."""
        self.stats.rejected += 1
        self.stats.last_reason = reason
        self.stats.last_rejected = time.monotonic()
        if reason not in self.reasons_logged and len(self.reasons_logged) < MAX_LOGGED_REASONS:
            self.reasons_logged.add(reason)
            log.warning(f'dropping frame(s) on {self.topics.input}: {reason}')

    # -- outputs -----------------------------------------------------------------------------
    def publish(self, header, image, result: ElfResult, backbone: str, layer: str,
                options: OutputOptions, log: Log) -> None:
        """Publish every subscribed output of one detection on `image` (H, W[, 3])."""
        height, width = image.shape[:2]
        if self.keypoints.get_subscription_count():
            self.keypoints.publish(messages.keypoint_array(
                header, width, height, result.keypoints, result.scores, result.sizes,
                result.angles))
        if self.descriptors.get_subscription_count():
            self.descriptors.publish(messages.descriptor_array(
                header, result.descriptors, backbone, layer))
        if self.features.get_subscription_count():
            self.features.publish(messages.features(
                header, width, height, result.keypoints, result.scores, result.descriptors,
                backbone, layer, options.descriptor_format, result.sizes, result.angles))
        if self.normalized is not None:
            self._publish_normalized(header, width, height, result, log)
        if result.saliency is not None and self.saliency.get_subscription_count():
            if options.colour_saliency:
                pixels, encoding = messages.colour_saliency(result.saliency), 'rgb8'
            else:
                pixels, encoding = messages.saliency_mono8(result.saliency), 'mono8'
            self.saliency.publish(messages.image_msg(header, pixels, encoding))
        if options.publish_debug_image and self.debug_image.get_subscription_count():
            drawn = messages.draw_keypoints(image, result.keypoints, result.scores)
            self.debug_image.publish(messages.image_msg(header, drawn, 'rgb8'))

    def _publish_normalized(self, header, width: int, height: int, result: ElfResult,
                            log: Log) -> None:
        info = self.camera_info
        try:
            if info is None:
                raise CameraInfoError(
                    f'no camera_info received on {sibling(self.topics.input, "camera_info")}'
                    ' yet: keypoints_normalized not published')
            xy = normalised_keypoints(result.keypoints, info)
        except CameraInfoError as err:
            if str(err) not in self.reasons_logged:
                self.reasons_logged.add(str(err))
                log.warning(str(err))
            return
        # Pixel sizes and pixel-frame angles do not carry over to the normalised image plane.
        self.normalized.publish(messages.keypoint_array(
            header, width, height, xy, result.scores))

    def publish_timing(self, header, keypoints: int, seconds: dict[str, float]) -> None:
        """Per-frame timings (TIMING_KEYS, seconds in, ms out), only while subscribed."""
        if self.timing is None or not self.timing.get_subscription_count():
            return
        status = DiagnosticStatus(name=self.topics.input, message=f'{keypoints} keypoints')
        status.values = [KeyValue(key=key, value=f'{seconds[key[:-3]] * 1e3:.3f}')
                         for key in TIMING_KEYS]
        msg = DiagnosticArray(header=header, status=[status])
        self.timing.publish(msg)
