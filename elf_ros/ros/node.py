"""
elf_node: ELF keypoints and descriptors for one or more camera streams.

Subscription callbacks only park the newest message of each camera in a slot; one worker
thread converts, detects (all waiting cameras in one batch) and publishes, so latency never
builds up when cameras are faster than the detector. Parameter changes are checked against
the detector's own validation and answered at once; network changes are built by a background
builder (one build per batch of changes) while the worker keeps serving with the old detector,
which is swapped out only if the new one built. `ElfPipeline` holds all of this for both the
plain node (`ElfNode`, ready at once) and the managed one (`elf_ros.ros.lifecycle`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import gc
import os
import sys
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
import rclpy.subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import torch

from elf_ros.core import ConfigError, descriptor_codec, DetectorConfig, ElfDetector, PRESETS
from elf_ros.core.config import FIELD_SPECS, RUNTIME_FIELDS
from elf_ros.core.detector import detect_each
from elf_ros.formats.compressed import decode_compressed
from elf_ros.formats.images import ImageConversionError, to_detector_image
from elf_ros.formats.topics import camera_topics, CameraTopics, sibling
from elf_ros.msg import DescriptorArray, Features, KeypointArray
from elf_ros.ros import messages
from elf_ros.ros.camera_info import CameraInfoError, normalised_keypoints
from elf_ros.ros.diagnostics import camera_status, Thresholds
from elf_ros.ros.frame_slots import FrameSlots
from elf_ros.ros.params import (
    check_buildable,
    config_from_node,
    declare_detector_parameters,
    detector_changes,
    expand_request,
    GroupedParameterService,
    parameter_value,
)
from elf_ros.ros.rebuild import CoalescingBuilder
from elf_ros.ros.shutdown import run_node
from elf_ros.ros.stats import CameraStats

# rclpy >= Iron passes MessageInfo (sequence numbers) to two-argument callbacks; Humble does not.
WITH_MESSAGE_INFO = hasattr(rclpy.subscription, 'MessageInfo')
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}
TRANSPORTS = ('raw', 'compressed')
MAX_LOGGED_REASONS = 10  # distinct refusal reasons logged per topic; later ones only counted
NETWORK_FIELDS = tuple(name for name in FIELD_SPECS if name not in RUNTIME_FIELDS)


@dataclass(frozen=True)
class NodeParameter:
    """A parameter of the node itself (the detector's come from the core's field specs)."""

    name: str
    default: Any
    description: str
    dynamic: bool = False  # settable while running; the others are read-only
    constraints: str = ''
    check: Callable[[Any], bool] = lambda value: True  # noqa: E731 - valid value?


NODE_PARAMETERS = (
    NodeParameter('image_topics', ['image'],
                  "Input image topics, one per camera; each camera's outputs are published in "
                  "its input topic's namespace (image -> keypoints, left/image -> "
                  'left/keypoints). A remapped input (-r image:=/cam/image_raw) takes its '
                  'outputs along (/cam/keypoints).'),
    NodeParameter('input_transport', 'raw',
                  "'raw': sensor_msgs/Image on each topic; 'compressed': "
                  'sensor_msgs/CompressedImage (jpeg/png) on <topic>/compressed, as '
                  'image_transport publishes it.',
                  constraints="'raw' or 'compressed'", check=lambda v: v in TRANSPORTS),
    NodeParameter('input_reliability', 'best_effort',
                  'QoS reliability of the image subscriptions (sensor-data style by default).',
                  constraints="'best_effort' or 'reliable'", check=lambda v: v in RELIABILITY),
    NodeParameter('input_depth', 1, 'QoS history depth of the image subscriptions.',
                  constraints='>= 1', check=lambda v: v >= 1),
    NodeParameter('output_reliability', 'reliable',
                  'QoS reliability of the outputs (rviz2 subscribes reliably).',
                  constraints="'best_effort' or 'reliable'", check=lambda v: v in RELIABILITY),
    NodeParameter('output_depth', 5, 'QoS history depth of the outputs.', constraints='>= 1',
                  check=lambda v: v >= 1),
    NodeParameter('publish_saliency', True,
                  'Publish the saliency map (built only while someone subscribes).', True),
    NodeParameter('publish_debug_image', True,
                  'Publish the source image with keypoints drawn (built only while someone '
                  'subscribes).', True),
    NodeParameter('colour_saliency', True,
                  'Saliency as a turbo colour map (rgb8) instead of mono8.', True),
    NodeParameter('normalized_keypoints', False,
                  'Also publish keypoints_normalized: keypoints undistorted and normalised with '
                  'the camera_info topic beside each image topic (x = (u - cx) / fx, ...).',
                  constraints='needs <image namespace>/camera_info'),
    NodeParameter('diagnostics_period', 1.0, 'Seconds between /diagnostics messages.',
                  constraints='> 0', check=lambda v: v > 0),
    NodeParameter('descriptor_format', 'float32',
                  'Descriptor payload of the features topic: float32, float16 (half the size) '
                  'or uint8 (a quarter; codes q, value = (q - 128) / descriptor_scale).',
                  constraints="'float32', 'float16' or 'uint8'",
                  check=lambda v: str(v).strip().lower() in descriptor_codec.FORMATS),
    NodeParameter('input_timeout', 3.0,
                  'Seconds without images (or without output while images arrive) after '
                  "which a camera's diagnostics turn WARN.",
                  constraints='> 0', check=lambda v: v > 0),
    NodeParameter('rejection_hold', 10.0,
                  'Seconds a rejected frame keeps the diagnostics at WARN (and last_rejection '
                  'set).', constraints='> 0', check=lambda v: v > 0),
    NodeParameter('cpu_threads', 0,
                  "Torch threads for detection on the CPU; 0 keeps torch's default (one per "
                  'core). On a CPU shared with the camera driver and DDS, 1 keeps latency steady.',
                  constraints='>= 0; process-wide, applied at start-up', check=lambda v: v >= 0),
)


# Node parameters that may change while running (on/off switches of the outputs).
SWITCHES = frozenset(p.name for p in NODE_PARAMETERS if p.dynamic)


class StartupError(RuntimeError):
    """The node cannot start with this configuration; the text says why."""


@dataclass
class Camera:
    """One input topic, how its messages are converted, its publishers and its counters."""

    topics: CameraTopics
    convert: Callable[[Any], Any]
    keypoints: Any = None
    descriptors: Any = None
    saliency: Any = None
    debug_image: Any = None
    features: Any = None
    normalized: Any = None           # keypoints_normalized, with normalized_keypoints
    camera_info: CameraInfo | None = None  # newest one, with normalized_keypoints
    stats: CameraStats = field(default_factory=CameraStats)
    reasons_logged: set[str] = field(default_factory=set)
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

    msg: Any  # sensor_msgs/Image or CompressedImage
    received: float


def same_network(a: DetectorConfig, b: DetectorConfig) -> bool:
    """Tell whether two configs need the same network (only runtime fields differ)."""
    return all(getattr(a, n) == getattr(b, n) for n in NETWORK_FIELDS)


def runtime_diff(old: DetectorConfig, new: DetectorConfig) -> dict[str, Any]:
    return {n: getattr(new, n) for n in RUNTIME_FIELDS if getattr(old, n) != getattr(new, n)}


class ElfPipeline:
    """
    The ROS side of ELF, for a Node or a LifecycleNode: parameters, topics, the worker.

    Steps: `_init_elf` (parameters, validated; nothing loaded), `_load` (detector and
    publishers), `_start` (subscriptions, worker, diagnostics), `_stop`, `_unload`.
    """

    def _init_elf(self) -> None:
        self._lock = threading.Lock()  # guards _detector, _config, _target and _pending
        self._detector: ElfDetector | None = None
        self._config: DetectorConfig | None = None  # what the running detector does
        self._pending: dict[str, Any] = {}          # runtime changes for the next frame
        self._builder: CoalescingBuilder | None = None
        self._builds = 0  # detectors built since start (the first load included)
        self._cameras: dict[str, Camera] = {}
        self._slots: FrameSlots | None = None
        self._worker: threading.Thread | None = None
        self._image_subscriptions: list[Any] = []
        self._timer = None
        self._parameter_service = GroupedParameterService(self)
        try:
            declare_detector_parameters(self)
            self._declare_node_parameters()
            # What the parameters say; the detector follows once (re)built.
            self._target: DetectorConfig = config_from_node(self).validate()
            self._camera_topics = self._resolve_cameras(list(self._param('image_topics')))
        except (ParameterException, ConfigError, ValueError, RCLError) as err:
            raise StartupError(str(err)) from err
        self._preset = self._param('preset')
        self._running_preset = self._preset
        for name in SWITCHES:
            setattr(self, '_' + name, bool(self._param(name)))
        self._limits = Thresholds(float(self._param('input_timeout')),
                                  float(self._param('rejection_hold')))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.add_pre_set_parameters_callback(self._expand_request)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # -- setup -----------------------------------------------------------------------------
    def _declare_node_parameters(self) -> None:
        for p in NODE_PARAMETERS:
            self.declare_parameter(p.name, p.default, ParameterDescriptor(
                description=p.description, read_only=not p.dynamic,
                additional_constraints=p.constraints))
            if not p.check(self._param(p.name)):
                raise StartupError(f'{p.name}: allowed {p.constraints}; '
                                   f'got {self._param(p.name)!r}')
        self._descriptor_format = descriptor_codec.check_format(
            self._param('descriptor_format'))
        if self._param('cpu_threads') > 0:
            torch.set_num_threads(self._param('cpu_threads'))

    def _resolve_cameras(self, image_topics: list[str]) -> list[CameraTopics]:
        """
        Output names per camera, following a remapped input.

        `-r image:=/camera/image_raw` moves the subscription; the outputs then go beside the
        remapped topic (/camera/keypoints), not to the unremapped name's namespace.
        """
        effective = []
        for topic in image_topics:
            resolved = self.resolve_topic_name(topic)
            remapped = resolved != self.resolve_topic_name(topic, only_expand=True)
            effective.append(resolved if remapped else topic)
        return camera_topics(effective)

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

    def _load(self) -> None:
        """Build the detector from the parameters and create the output publishers."""
        with self._lock:
            target = self._target
        detector = self._build_detector(target)
        self._builds += 1
        with self._lock:  # runtime changes made meanwhile apply from the first frame
            self._detector, self._config = detector, self._target
            self._pending = runtime_diff(target, self._target)
        self._running_preset = self._preset
        out_qos = QoSProfile(depth=int(self._param('output_depth')),
                             reliability=RELIABILITY[self._param('output_reliability')])
        compressed = self._param('input_transport') == 'compressed'
        for topics in self._camera_topics:
            camera = Camera(topics, decode_compressed if compressed
                            else to_detector_image)
            self._create_publishers(camera, out_qos)
            self._cameras[topics.input] = camera
        self._builder = CoalescingBuilder(self._rebuild)

    def _create_publishers(self, camera: Camera, qos: QoSProfile) -> None:
        topics = camera.topics
        camera.keypoints = self.create_publisher(KeypointArray, topics.keypoints, qos)
        camera.descriptors = self.create_publisher(DescriptorArray, topics.descriptors, qos)
        camera.saliency = self.create_publisher(Image, topics.saliency, qos)
        camera.debug_image = self.create_publisher(Image, topics.debug_image, qos)
        camera.features = self.create_publisher(Features, topics.features, qos)
        if self._param('normalized_keypoints'):
            camera.normalized = self.create_publisher(
                KeypointArray, sibling(topics.input, 'keypoints_normalized'), qos)

    def _start(self) -> None:
        """Start the worker, the diagnostics timer and (last: ready then) the subscriptions."""
        self._slots = FrameSlots(list(self._cameras))
        self._worker = threading.Thread(target=self._work, args=(self._slots,),
                                        name='elf_worker', daemon=True)
        self._worker.start()
        # Steady clock: diagnostics keep coming (and report silence) while a bag is paused
        # under use_sim_time; their stamps follow the node's (sim) clock.
        self._timer = self.create_timer(float(self._param('diagnostics_period')),
                                        self._publish_diagnostics,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))
        in_qos = QoSProfile(depth=int(self._param('input_depth')),
                            reliability=RELIABILITY[self._param('input_reliability')])
        compressed = self._param('input_transport') == 'compressed'
        outputs = []
        for name, camera in self._cameras.items():
            if camera.normalized is not None:
                self._image_subscriptions.append(self.create_subscription(
                    CameraInfo, sibling(name, 'camera_info'),
                    lambda msg, c=camera: setattr(c, 'camera_info', msg), in_qos))
            if WITH_MESSAGE_INFO:
                def callback(msg, info, name=name):
                    self._on_image(name, msg, info)
            else:
                def callback(msg, name=name):
                    self._on_image(name, msg, None)
            sub = self.create_subscription(
                CompressedImage if compressed else Image,
                name + '/compressed' if compressed else name, callback, in_qos)
            self._image_subscriptions.append(sub)
            camera.diagnostic_name = f'{self.get_fully_qualified_name()}: {sub.topic_name}'
            outputs.append(f'{sub.topic_name} -> {self._publisher_name(camera.keypoints)}')
        with self._lock:
            detector, config = self._detector, self._config
        self.get_logger().info(
            f'ready: {config.backbone} ({config.weights}) on {detector.device}'
            f' ({torch.get_num_threads()} CPU threads), cameras: ' + ', '.join(outputs))

    @staticmethod
    def _publisher_name(publisher) -> str:
        return publisher.topic_name

    def _stop(self, timeout: float = 1.0) -> bool:
        """Stop taking frames; False when the worker is still inside a detection."""
        for sub in self._image_subscriptions:
            self.destroy_subscription(sub)
        self._image_subscriptions = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self._slots is not None:
            self._slots.close()
        idle = True
        if self._worker is not None:
            self._worker.join(timeout)
            idle = not self._worker.is_alive()
        return idle

    def _unload(self) -> bool:
        """Free the detector and the publishers; False when a rebuild is still running."""
        idle = self._builder.close(0.0) if self._builder is not None else True
        for camera in self._cameras.values():
            for pub in (camera.keypoints, camera.descriptors, camera.saliency,
                        camera.debug_image, camera.features, camera.normalized):
                if pub is not None:
                    self.destroy_publisher(pub)
        self._cameras = {}
        with self._lock:
            device = self._detector.device if self._detector is not None else None
            self._detector, self._config, self._pending = None, None, {}
        gc.collect()
        if device is not None and device.type == 'cuda':
            torch.cuda.empty_cache()
        return idle

    # -- parameters ------------------------------------------------------------------------
    def _expand_request(self, params: list[Parameter]) -> list[Parameter]:
        with self._lock:
            backbone = self._target.backbone
        return expand_request(params, self._preset, backbone)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate; accept at once; a network change is built in the background."""
        preset = next((p.value for p in params if p.name == 'preset'), None)
        if preset is not None and preset not in PRESETS:
            return SetParametersResult(
                successful=False, reason=f'preset: unknown {preset!r}; allowed: '
                + ', '.join(PRESETS))
        with self._lock:
            target = self._target
        changes = {k: v for k, v in detector_changes(params).items() if getattr(target, k) != v}
        candidate = None
        if changes:
            try:
                candidate = target.replace(**changes).validate()
                if not same_network(candidate, target):
                    check_buildable(candidate)
            except ConfigError as err:
                return SetParametersResult(successful=False, reason=str(err))
        if preset is not None:
            self._preset = preset
        for p in params:  # dynamic node switches (read-only ones never get here)
            if p.name in SWITCHES:
                setattr(self, '_' + p.name, bool(p.value))
        if candidate is not None:
            with self._lock:
                self._target = candidate
                self._follow_target()
        return SetParametersResult(successful=True)

    def _follow_target(self) -> None:
        """Apply runtime changes now, ask the builder for network changes (lock held)."""
        if self._detector is None:
            return  # not configured yet (lifecycle): the next load builds the target
        if same_network(self._target, self._config):
            self._pending.update(runtime_diff(self._config, self._target))
            self._config = self._target
        else:
            self._builder.request()

    def _rebuild(self) -> None:
        """Builder thread: build the target's network; swap it in, or log and revert."""
        with self._lock:
            target, running = self._target, self._config
            if running is None or same_network(target, running):
                return
        log = self.get_logger()
        changed = [n for n in NETWORK_FIELDS if getattr(target, n) != getattr(running, n)]
        log.info(f'rebuilding the detector for {changed}; the current one keeps serving')
        start = time.monotonic()
        self._builds += 1
        try:
            detector = self._build_detector(target)
        except StartupError as err:
            log.error(f'{err}; keeping the running {running.backbone} detector and reverting '
                      'the parameters to its values')
            with self._lock:
                stale = not same_network(self._target, target)
            if not stale:
                self._revert_parameters(running)
            return
        with self._lock:
            if self._config is None:
                return  # cleaned up (lifecycle) while building: the model stays freed
            if not same_network(self._target, target):
                return  # changed again meanwhile: the builder runs once more
            self._detector = detector
            self._pending = runtime_diff(target, self._target)
            self._config = self._target
        self._running_preset = self._preset
        log.info(f'detector rebuilt in {time.monotonic() - start:.1f} s: {target.backbone} '
                 f'({target.detection_layer or "default"} / '
                 f'{target.description_layer or "default"}) on {detector.device}')

    def _revert_parameters(self, running: DetectorConfig) -> None:
        params = [Parameter(n, value=parameter_value(n, getattr(running, n)))
                  for n in FIELD_SPECS]
        self.set_parameters_atomically([Parameter('preset', value=self._running_preset),
                                        *params])

    # -- data path -------------------------------------------------------------------------
    def _on_image(self, name: str, msg: Any, info: dict | None) -> None:
        camera = self._cameras[name]
        camera.stats.input.tick()
        if info is not None:
            camera.count_missed(info)
        self._slots.put(name, Frame(msg, time.monotonic()))

    def _refuse(self, camera: Camera, reason: str) -> None:
        """Count a frame that cannot be processed; log each distinct reason once per topic."""
        camera.stats.rejected += 1
        camera.stats.last_reason = reason
        camera.stats.last_rejected = time.monotonic()
        if reason not in camera.reasons_logged and len(camera.reasons_logged) < MAX_LOGGED_REASONS:
            camera.reasons_logged.add(reason)
            self.get_logger().warning(f'dropping frame(s) on {camera.topics.input}: {reason}')

    def _work(self, slots: FrameSlots) -> None:
        """Worker loop: take the newest frames, detect them as one batch, publish."""
        while not slots.closed:
            frames = slots.take(timeout=0.5)
            if not frames:
                continue
            try:
                self._process(frames, slots)
            except Exception as err:  # noqa: B902 - the worker must survive anything
                if slots.closed:
                    return
                self.get_logger().error(f'detection failed: {err!r}')

    def _process(self, frames: dict[str, Frame], slots: FrameSlots) -> None:
        taken = time.monotonic()
        batch: list[tuple[Camera, Frame, Any]] = []
        for name, frame in frames.items():
            camera = self._cameras[name]
            try:
                batch.append((camera, frame, camera.convert(frame.msg)))
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
            if result is None or slots.closed:
                continue
            published = time.monotonic()
            self._publish(camera, frame, image, result, config.backbone,
                          detector.backbone.description_layer)
            done = time.monotonic()
            total = done - frame.received
            camera.stats.detection.add(elapsed)
            camera.stats.end_to_end.add(total)
            camera.stats.output.tick()
            stamp = frame.msg.header.stamp
            self.get_logger().debug(
                f'frame {stamp.sec}.{stamp.nanosec:09d} on {camera.topics.input}: '
                f'{len(result.keypoints)} keypoints, detect_ms={elapsed * 1e3:.2f} '
                f'in_node_ms={total * 1e3:.2f} waited_ms={(taken - frame.received) * 1e3:.2f} '
                f'publish_ms={(done - published) * 1e3:.2f}')

    def _detect(self, detector: ElfDetector, batch: list, want_saliency: bool) -> list:
        """Results in batch order; a refused image is counted, logged and gets None."""
        results = detect_each(detector, [image for _, _, image in batch], want_saliency,
                              refused=(Exception,))  # e.g. an image too small for the network
        for (camera, _, _), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                self._refuse(camera, f'detector refused the image: {result}')
        return [None if isinstance(r, Exception) else r for r in results]

    def _publish(self, camera: Camera, frame: Frame, image, result, backbone: str,
                 layer: str) -> None:
        header = frame.msg.header
        height, width = image.shape[:2]
        # Every output is built only while someone subscribes (KeypointArray costs one Python
        # object per keypoint).
        if camera.keypoints.get_subscription_count():
            camera.keypoints.publish(messages.keypoint_array(
                header, width, height, result.keypoints, result.scores))
        if camera.descriptors.get_subscription_count():
            camera.descriptors.publish(messages.descriptor_array(
                header, result.descriptors, backbone, layer))
        if camera.features.get_subscription_count():
            camera.features.publish(messages.features(
                header, width, height, result.keypoints, result.scores, result.descriptors,
                backbone, layer, self._descriptor_format))
        if camera.normalized is not None:
            self._publish_normalized(camera, header, width, height, result)
        if result.saliency is not None and camera.saliency.get_subscription_count():
            if self._colour_saliency:
                pixels, encoding = messages.colour_saliency(result.saliency), 'rgb8'
            else:
                pixels, encoding = messages.saliency_mono8(result.saliency), 'mono8'
            camera.saliency.publish(messages.image_msg(header, pixels, encoding))
        if self._publish_debug_image and camera.debug_image.get_subscription_count():
            drawn = messages.draw_keypoints(image, result.keypoints, result.scores)
            camera.debug_image.publish(messages.image_msg(header, drawn, 'rgb8'))

    def _publish_normalized(self, camera: Camera, header, width: int, height: int,
                            result) -> None:
        info = camera.camera_info
        try:
            if info is None:
                raise CameraInfoError(
                    f'no camera_info received on {sibling(camera.topics.input, "camera_info")}'
                    ' yet: keypoints_normalized not published')
            xy = normalised_keypoints(result.keypoints, info)
        except CameraInfoError as err:
            if str(err) not in camera.reasons_logged:
                camera.reasons_logged.add(str(err))
                self.get_logger().warning(str(err))
            return
        camera.normalized.publish(messages.keypoint_array(
            header, width, height, xy, result.scores))

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        with self._lock:
            if self._detector is None:
                return
            device, backbone = str(self._detector.device), self._config.backbone
        now = time.monotonic()
        for name, camera in self._cameras.items():
            dropped = self._slots.dropped[name]
            msg.status.append(camera_status(
                camera.diagnostic_name, camera.stats, self._limits, device, {
                    'frames_dropped': dropped + camera.missed,
                    'frames_dropped_by_node': dropped,
                    'frames_dropped_before_node': camera.missed,
                    'device': device, 'backbone': backbone,
                    'detector_builds': self._builds}, now))
        self._diagnostics.publish(msg)

    # -- shutdown --------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> bool:
        """Stop the worker and the builder; False when one is still busy after `timeout` s."""
        start = time.monotonic()
        idle = self._stop(timeout)
        if self._builder is not None:
            left = max(0.0, timeout - (time.monotonic() - start))
            idle = self._builder.close(left) and idle
        return idle

    def destroy_node(self) -> None:
        """Stop the worker too: in-process users often only destroy the node."""
        if self._slots is not None and not self._slots.closed:
            self.close()  # not closed yet (close() already waited otherwise)
        super().destroy_node()


class ElfNode(ElfPipeline, Node):
    """The plain node: loads the detector and starts serving in its constructor."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('elf_node', start_parameter_services=False, **kwargs)
        self._init_elf()
        self._load()
        self._start()


DEFAULT_EXECUTOR = 'single'


def make_executor() -> Executor:
    """
    Create the executor spinning the node (ELF_NODE_EXECUTOR: single or multi).

    Every callback is short (parameters are built in the background), so one thread suffices
    and costs less per message than the thread pool (docs/node.md has the measurements).
    rclpy's experimental EventsExecutor is not offered: with these wheels it busy-spun at 100 %
    CPU and never delivered a message.
    """
    kind = os.environ.get('ELF_NODE_EXECUTOR', DEFAULT_EXECUTOR)
    if kind == 'multi':
        return MultiThreadedExecutor(num_threads=3)
    return SingleThreadedExecutor()



def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C/SIGTERM (exit 0); exit 1 with the reason if it cannot start."""
    return run_node(ElfNode, make_executor, (StartupError,), 'elf_node',
                    sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
