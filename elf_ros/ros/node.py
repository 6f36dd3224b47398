"""
elf_node: ELF keypoints and descriptors for one or more camera streams.

Subscription callbacks only park the newest message of each camera in a slot; one worker
thread converts, detects (all waiting cameras in one batch) and publishes, so latency never
builds up when cameras are faster than the detector. Parameter changes are checked against
the detector's own validation; network changes build a new detector in the parameter thread
while the worker keeps serving with the old one, and it is swapped in only if it built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import os
import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
import rclpy.subscription
from sensor_msgs.msg import Image
import torch

from elf_ros.core import ConfigError, descriptor_codec, DetectorConfig, ElfDetector
from elf_ros.msg import DescriptorArray, Features, KeypointArray
from elf_ros.ros import messages
from elf_ros.ros.frame_slots import FrameSlots
from elf_ros.ros.image_conversion import ImageConversionError, to_detector_image
from elf_ros.ros.params import (
    config_from_node,
    declare_detector_parameters,
    detector_changes,
    needs_rebuild,
)
from elf_ros.ros.stats import CameraStats
from elf_ros.ros.topics import camera_topics, CameraTopics

# rclpy >= Iron passes MessageInfo (sequence numbers) to two-argument callbacks; Humble does not.
WITH_MESSAGE_INFO = hasattr(rclpy.subscription, 'MessageInfo')
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}
MAX_LOGGED_REASONS = 10  # distinct refusal reasons logged per topic; later ones only counted


@dataclass(frozen=True)
class NodeParameter:
    """A parameter of the node itself (the detector's come from the core's field specs)."""

    name: str
    default: Any
    description: str
    dynamic: bool = False  # settable while running; the others are read-only
    constraints: str = ''


NODE_PARAMETERS = (
    NodeParameter('image_topics', ['image'],
                  "Input image topics, one per camera; each camera's outputs are published in "
                  "its input topic's namespace (image -> keypoints, left/image -> "
                  'left/keypoints).'),
    NodeParameter('input_reliability', 'best_effort',
                  'QoS reliability of the image subscriptions (sensor-data style by default).',
                  constraints="'best_effort' or 'reliable'"),
    NodeParameter('input_depth', 1, 'QoS history depth of the image subscriptions.',
                  constraints='>= 1'),
    NodeParameter('output_reliability', 'reliable',
                  'QoS reliability of the outputs (rviz2 subscribes reliably).',
                  constraints="'best_effort' or 'reliable'"),
    NodeParameter('output_depth', 5, 'QoS history depth of the outputs.', constraints='>= 1'),
    NodeParameter('publish_saliency', True,
                  'Publish the saliency map (built only while someone subscribes).', True),
    NodeParameter('publish_debug_image', True,
                  'Publish the source image with keypoints drawn (built only while someone '
                  'subscribes).', True),
    NodeParameter('colour_saliency', True,
                  'Saliency as a turbo colour map (rgb8) instead of mono8.', True),
    NodeParameter('diagnostics_period', 1.0, 'Seconds between /diagnostics messages.',
                  constraints='> 0'),
    NodeParameter('descriptor_format', 'float32',
                  'Descriptor payload of the features topic: float32, float16 (half the size) '
                  'or uint8 (a quarter; codes q, value = (q - 128) / descriptor_scale).',
                  constraints="'float32', 'float16' or 'uint8'"),
    NodeParameter('cpu_threads', 0,
                  "Torch threads for detection on the CPU; 0 keeps torch's default (one per "
                  'core). On a CPU shared with the camera driver and DDS, 1 keeps latency steady.',
                  constraints='>= 0; process-wide, applied at start-up'),
)


# Node parameters that may change while running (on/off switches of the outputs).
SWITCHES = frozenset(p.name for p in NODE_PARAMETERS if p.dynamic)


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the text says why."""


@dataclass
class Camera:
    """One input topic, its publishers and its counters."""

    topics: CameraTopics
    keypoints: Any
    descriptors: Any
    saliency: Any
    debug_image: Any
    features: Any
    stats: CameraStats = field(default_factory=CameraStats)
    reasons_logged: set[str] = field(default_factory=set)
    last_reason: str = ''
    diagnostic_name: str = ''
    last_sequence: dict[bytes, int] = field(default_factory=dict)
    missed: int = 0  # frames a publisher sent that never reached the callback

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


@dataclass
class Frame:
    """A received message and when it arrived (monotonic clock)."""

    msg: Image
    received: float


class ElfNode(Node):
    """The ROS side of ELF: topics, parameters, diagnostics and the detection worker."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_node', **kwargs)
        get = self._param
        try:
            declare_detector_parameters(self)
            self._declare_node_parameters()
            self._config = config_from_node(self).validate()
            cams = camera_topics(list(get('image_topics')))
        except (ParameterException, ConfigError, ValueError) as err:
            raise StartupError(str(err)) from err
        self._detector = self._build_detector(self._config)
        self._lock = threading.Lock()  # guards _detector, _config and _pending
        self._pending: dict[str, Any] = {}  # runtime changes for the next frame
        self._publish_saliency = bool(get('publish_saliency'))
        self._publish_debug_image = bool(get('publish_debug_image'))
        self._colour_saliency = bool(get('colour_saliency'))

        out_qos = QoSProfile(depth=int(get('output_depth')),
                             reliability=RELIABILITY[get('output_reliability')])
        in_qos = QoSProfile(depth=int(get('input_depth')),
                            reliability=RELIABILITY[get('input_reliability')])
        self._cameras: dict[str, Camera] = {}
        for topics in cams:
            self._cameras[topics.input] = Camera(
                topics,
                self.create_publisher(KeypointArray, topics.keypoints, out_qos),
                self.create_publisher(DescriptorArray, topics.descriptors, out_qos),
                self.create_publisher(Image, topics.saliency, out_qos),
                self.create_publisher(Image, topics.debug_image, out_qos),
                self.create_publisher(Features, topics.features, out_qos))
        self._slots = FrameSlots(list(self._cameras))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._worker = threading.Thread(target=self._work, name='elf_worker', daemon=True)
        self._worker.start()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(float(get('diagnostics_period')), self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())
        # Subscriptions last: once they match, the node is ready (replay/tests wait on that).
        images = MutuallyExclusiveCallbackGroup()
        for name, camera in self._cameras.items():
            if WITH_MESSAGE_INFO:
                def callback(msg, info, name=name):
                    self._on_image(name, msg, info)
            else:
                def callback(msg, name=name):
                    self._on_image(name, msg, None)
            sub = self.create_subscription(Image, name, callback, in_qos, callback_group=images)
            camera.diagnostic_name = f'{self.get_fully_qualified_name()}: {sub.topic_name}'

        self.get_logger().info(
            f'ready: {self._config.backbone} ({self._config.weights}) on {self._detector.device}'
            f' ({torch.get_num_threads()} CPU threads), cameras: ' + ', '.join(
                f'{c.topics.input} -> {c.topics.keypoints}' for c in self._cameras.values()))

    # -- setup -----------------------------------------------------------------------------
    def _declare_node_parameters(self) -> None:
        for p in NODE_PARAMETERS:
            self.declare_parameter(p.name, p.default, ParameterDescriptor(
                description=p.description, read_only=not p.dynamic,
                additional_constraints=p.constraints))
        for name in ('input_reliability', 'output_reliability'):
            if self._param(name) not in RELIABILITY:
                raise StartupError(f"{name}: allowed 'best_effort', 'reliable'; "
                                   f'got {self._param(name)!r}')
        for name in ('input_depth', 'output_depth'):
            if self._param(name) < 1:
                raise StartupError(f'{name}: must be at least 1, got {self._param(name)}')
        if self._param('diagnostics_period') <= 0:
            raise StartupError('diagnostics_period: must be positive')
        try:
            self._descriptor_format = descriptor_codec.check_format(
                self._param('descriptor_format'))
        except ValueError as err:
            raise StartupError(str(err)) from err
        if self._param('cpu_threads') < 0:
            raise StartupError(f"cpu_threads: must be 0 (torch's default) or more, "
                               f"got {self._param('cpu_threads')}")
        if self._param('cpu_threads') > 0:
            torch.set_num_threads(self._param('cpu_threads'))

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _build_detector(self, config: DetectorConfig) -> ElfDetector:
        """Build a detector, turning every failure into a StartupError with the reason."""
        try:
            detector = ElfDetector(config)
        except Exception as err:  # noqa: B902 - any build failure is reported, not raised raw
            raise StartupError(
                f'cannot build the detector ({config.backbone}, weights={config.weights}, '
                f'device={config.device}): {err}') from err
        if config.device == 'auto' and str(detector.device) == 'cpu':
            self.get_logger().warning('device auto: no CUDA device available, running on CPU')
        return detector

    # -- parameters ------------------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Accept a change only if the detector accepts it; rebuild when the network changes."""
        result = self._apply_detector_changes(detector_changes(params))
        if result.successful:
            for p in params:  # dynamic node switches (read-only ones never get here)
                if p.name in SWITCHES:
                    setattr(self, '_' + p.name, bool(p.value))
        return result

    def _apply_detector_changes(self, changes: dict[str, Any]) -> SetParametersResult:
        if not changes:
            return SetParametersResult(successful=True)
        with self._lock:
            current = self._config
        try:
            candidate = current.replace(**changes).validate()
        except ConfigError as err:
            return SetParametersResult(successful=False, reason=str(err))
        if not needs_rebuild(changes):
            with self._lock:
                self._config = candidate
                self._pending.update(changes)
            return SetParametersResult(successful=True)
        self.get_logger().info(f'rebuilding the detector for {sorted(changes)}; '
                               'the current one keeps serving meanwhile')
        try:
            detector = self._build_detector(candidate)
        except StartupError as err:
            return SetParametersResult(successful=False, reason=str(err))
        with self._lock:
            self._detector, self._config, self._pending = detector, candidate, {}
        self.get_logger().info(f'detector rebuilt: {candidate.backbone} on {detector.device}')
        return SetParametersResult(successful=True)

    # -- data path -------------------------------------------------------------------------
    def _on_image(self, name: str, msg: Image, info: dict | None) -> None:
        camera = self._cameras[name]
        camera.stats.input.tick()
        if info is not None:
            camera.count_missed(info)
        self._slots.put(name, Frame(msg, time.monotonic()))

    def _refuse(self, camera: Camera, reason: str) -> None:
        """Count a frame that cannot be processed; log each distinct reason once per topic."""
        camera.stats.rejected += 1
        camera.last_reason = reason
        if reason not in camera.reasons_logged and len(camera.reasons_logged) < MAX_LOGGED_REASONS:
            camera.reasons_logged.add(reason)
            self.get_logger().warning(f'dropping frame(s) on {camera.topics.input}: {reason}')

    def _work(self) -> None:
        """Worker loop: take the newest frames, detect them as one batch, publish."""
        while not self._slots.closed:
            frames = self._slots.take(timeout=0.5)
            if not frames:
                continue
            try:
                self._process(frames)
            except Exception as err:  # noqa: B902 - the worker must survive anything
                if self._slots.closed:
                    return
                self.get_logger().error(f'detection failed: {err!r}')

    def _process(self, frames: dict[str, Frame]) -> None:
        batch: list[tuple[Camera, Frame, Any]] = []
        for name, frame in frames.items():
            camera = self._cameras[name]
            try:
                batch.append((camera, frame, to_detector_image(frame.msg)))
            except ImageConversionError as err:
                self._refuse(camera, str(err))
        if not batch:
            return
        with self._lock:
            detector, config = self._detector, self._config
            if self._pending:
                detector.update(**self._pending)
                self._pending = {}
        want_saliency = self._publish_saliency and any(
            c.saliency.get_subscription_count() for c, _, _ in batch)
        start = time.monotonic()
        results = self._detect(detector, batch, want_saliency)
        elapsed = time.monotonic() - start
        for (camera, frame, image), result in zip(batch, results, strict=True):
            if result is None or self._slots.closed:
                continue
            self._publish(camera, frame, image, result, config.backbone,
                          detector.backbone.description_layer)
            total = time.monotonic() - frame.received
            camera.stats.detection.add(elapsed)
            camera.stats.end_to_end.add(total)
            camera.stats.output.tick()
            stamp = frame.msg.header.stamp
            self.get_logger().debug(
                f'frame {stamp.sec}.{stamp.nanosec:09d} on {camera.topics.input}: '
                f'{len(result.keypoints)} keypoints, detect_ms={elapsed * 1e3:.2f} '
                f'in_node_ms={total * 1e3:.2f}')

    def _detect(self, detector: ElfDetector, batch: list, want_saliency: bool) -> list:
        """Results in batch order; on failure, retry one by one so one bad image costs one."""
        try:
            return detector.detect([image for _, _, image in batch],
                                   return_saliency=want_saliency)
        except Exception as err:  # noqa: B902 - e.g. an image too small for the network
            if len(batch) == 1:
                self._refuse(batch[0][0], f'detector refused the image: {err}')
                return [None]
        return [self._detect(detector, [item], want_saliency)[0] for item in batch]

    def _publish(self, camera: Camera, frame: Frame, image, result, backbone: str,
                 layer: str) -> None:
        header = frame.msg.header
        height, width = image.shape[:2]
        camera.keypoints.publish(messages.keypoint_array(
            header, width, height, result.keypoints, result.scores))
        camera.descriptors.publish(messages.descriptor_array(
            header, result.descriptors, backbone, layer))
        if camera.features.get_subscription_count():
            camera.features.publish(messages.features(
                header, width, height, result.keypoints, result.scores, result.descriptors,
                backbone, layer, self._descriptor_format))
        if result.saliency is not None and camera.saliency.get_subscription_count():
            if self._colour_saliency:
                pixels, encoding = messages.colour_saliency(result.saliency), 'rgb8'
            else:
                pixels, encoding = messages.saliency_mono8(result.saliency), 'mono8'
            camera.saliency.publish(messages.image_msg(header, pixels, encoding))
        if self._publish_debug_image and camera.debug_image.get_subscription_count():
            drawn = messages.draw_keypoints(image, result.keypoints, result.scores)
            camera.debug_image.publish(messages.image_msg(header, drawn, 'rgb8'))

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        with self._lock:
            device, backbone = str(self._detector.device), self._config.backbone
        for name, camera in self._cameras.items():
            msg.status.append(self._camera_status(name, camera, device, backbone))
        self._diagnostics.publish(msg)

    def _camera_status(self, name: str, camera: Camera, device: str,
                       backbone: str) -> DiagnosticStatus:
        stats = camera.stats
        in_rate, out_rate = stats.input.rate(), stats.output.rate()
        det50, det99 = stats.detection.percentiles_ms(50, 99)
        e2e50, e2e99 = stats.end_to_end.percentiles_ms(50, 99)
        status = DiagnosticStatus(name=camera.diagnostic_name, hardware_id=device)
        if stats.input.count == 0:
            status.level, status.message = DiagnosticStatus.STALE, 'no images received yet'
        elif in_rate > 0 and out_rate == 0:
            status.level = DiagnosticStatus.WARN
            status.message = camera.last_reason or 'images arrive but no output yet'
        else:
            status.level, status.message = DiagnosticStatus.OK, 'detecting'
        values = {
            'input_rate_hz': f'{in_rate:.2f}', 'output_rate_hz': f'{out_rate:.2f}',
            'frames_received': stats.input.count, 'frames_processed': stats.output.count,
            'frames_dropped': self._slots.dropped[name] + camera.missed,
            'frames_dropped_by_node': self._slots.dropped[name],
            'frames_dropped_before_node': camera.missed,
            'frames_rejected': stats.rejected,
            'detection_latency_p50_ms': f'{det50:.1f}',
            'detection_latency_p99_ms': f'{det99:.1f}',
            'end_to_end_latency_p50_ms': f'{e2e50:.1f}',
            'end_to_end_latency_p99_ms': f'{e2e99:.1f}',
            'device': device, 'backbone': backbone, 'last_rejection': camera.last_reason,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        return status

    # -- shutdown --------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> bool:
        """Stop the worker; False when it is still inside a detection after `timeout` s."""
        self._slots.close()
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def destroy_node(self) -> None:
        """Stop the worker too: in-process users often only destroy the node."""
        self.close()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C; exit status 1 with the reason when it cannot start."""
    argv = sys.argv if argv is None else argv
    rclpy.init(args=argv)
    node = None
    try:
        node = ElfNode()
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        executor.spin()
    except StartupError as err:
        rclpy.logging.get_logger('elf_node').fatal(f'cannot start: {err}')
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        idle = node.close(timeout=1.2) if node is not None else True
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if not idle:
        # A detection cannot be interrupted, and tearing the interpreter down under a busy
        # torch thread aborts the process; leave at once (everything ROS is already shut down).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
