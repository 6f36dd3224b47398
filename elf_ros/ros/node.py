"""
elf_node: ELF keypoints and descriptors for one or more camera streams (the wiring).

Subscription callbacks only park the newest message of each camera in a slot; one worker
thread converts, detects (all waiting cameras in one batch) and publishes, so latency never
builds up when cameras are faster than the detector. The parts live in their own modules:
parameters (`params`), the detector and its rebuilds (`slot`: changes are validated and
answered at once, network changes built in the background while the old detector serves), each
camera's outputs (`outputs`), /diagnostics (`diagnostics`). `ElfPipeline` wires them for both
the plain node (`ElfNode`, ready at once) and the managed one (`elf_ros.ros.lifecycle`).
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy._rclpy_pybind11 import RCLError
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
import torch

from elf_ros.core import (
    ConfigError,
    descriptor_codec,
    detect_each,
    ElfDetector,
    FIELD_SPECS,
    set_cpu_threads,
)
from elf_ros.formats.compressed import decode_compressed
from elf_ros.formats.images import ImageConversionError, to_detector_image
from elf_ros.formats.topics import camera_topics, CameraTopics, sibling
from elf_ros.ros.compat import WITH_MESSAGE_INFO
from elf_ros.ros.diagnostics import camera_status, Thresholds
from elf_ros.ros.frame_slots import FrameSlots
from elf_ros.ros.outputs import Camera, Frame, OutputOptions
from elf_ros.ros.params import (
    config_from_node,
    declare_detector_parameters,
    declare_node_parameters,
    detector_changes,
    expand_request,
    GroupedParameterService,
    parameter_value,
    RELIABILITY,
    SWITCHES,
)
from elf_ros.ros.shutdown import make_executor, run_node
from elf_ros.ros.slot import DetectorSlot, StartupError

__all__ = ['ElfNode', 'ElfPipeline', 'StartupError', 'main', 'make_executor']


class ElfPipeline:
    """
    The ROS side of ELF, for a Node or a LifecycleNode: parameters, topics, the worker.

    Steps: `_init_elf` (parameters, validated; nothing loaded), `_load` (detector and
    publishers), `_start` (subscriptions, worker, diagnostics), `_stop`, `_unload`.
    """

    def _init_elf(self) -> None:
        self._cameras: dict[str, Camera] = {}
        self._slots: FrameSlots | None = None
        self._worker: threading.Thread | None = None
        self._image_subscriptions: list[Any] = []
        self._timer = None
        self._parameter_service = GroupedParameterService(self)
        try:
            declare_detector_parameters(self)
            declare_node_parameters(self)
            self._outputs = OutputOptions(descriptor_codec.check_format(
                self._param('descriptor_format')))
            # What the parameters say; the detector follows once (re)built.
            target = config_from_node(self).validate()
            self._camera_topics = self._resolve_cameras(list(self._param('image_topics')))
        except (ParameterException, ConfigError, ValueError, RCLError) as err:
            raise StartupError(str(err)) from err
        if self._param('cpu_threads') > 0:
            set_cpu_threads(self._param('cpu_threads'))
        self.slot = DetectorSlot(target, self._param('preset'), self.get_logger(),
                                 self._revert_parameters)
        for name in SWITCHES:
            setattr(self._outputs, name, bool(self._param(name)))
        self._limits = Thresholds(float(self._param('input_timeout')),
                                  float(self._param('rejection_hold')))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.add_pre_set_parameters_callback(self._expand_request)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # -- setup -----------------------------------------------------------------------------
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

    def _load(self) -> None:
        """Build the detector from the parameters and create the output publishers."""
        self.slot.load()
        out_qos = QoSProfile(depth=int(self._param('output_depth')),
                             reliability=RELIABILITY[self._param('output_reliability')])
        compressed = self._param('input_transport') == 'compressed'
        for topics in self._camera_topics:
            camera = Camera(topics, decode_compressed if compressed else to_detector_image)
            camera.create_publishers(self, out_qos, bool(self._param('normalized_keypoints')))
            self._cameras[topics.input] = camera

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
            outputs.append(f'{sub.topic_name} -> {camera.keypoints.topic_name}')
        detector, config = self.slot.current()
        if detector.runtime_note:
            self.get_logger().warning(detector.runtime_note)
        self.get_logger().info(
            f'ready: {config.backbone} ({config.weights}) on {detector.device} via '
            f'{detector.runtime} ({torch.get_num_threads()} CPU threads), cameras: '
            + ', '.join(outputs))

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
        for camera in self._cameras.values():
            camera.destroy_publishers(self)
        self._cameras = {}
        return self.slot.unload()

    # -- parameters ------------------------------------------------------------------------
    def _expand_request(self, params: list[Parameter]) -> list[Parameter]:
        return expand_request(params, self.slot.preset, self.slot.target.backbone)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate; accept at once; a network change is built in the background."""
        preset = next((p.value for p in params if p.name == 'preset'), None)
        try:
            self.slot.change(detector_changes(params), preset)
        except ConfigError as err:
            return SetParametersResult(successful=False, reason=str(err))
        for p in params:  # dynamic node switches (read-only ones never get here)
            if p.name in SWITCHES:
                setattr(self._outputs, p.name, bool(p.value))
        return SetParametersResult(successful=True)

    def _revert_parameters(self, running, running_preset: str) -> None:
        """After a failed rebuild: the parameters go back to the running detector's values."""
        params = [Parameter(n, value=parameter_value(n, getattr(running, n)))
                  for n in FIELD_SPECS]
        self.set_parameters_atomically([Parameter('preset', value=running_preset), *params])

    # -- data path -------------------------------------------------------------------------
    def _on_image(self, name: str, msg: Any, info: dict | None) -> None:
        camera = self._cameras[name]
        camera.stats.input.tick()
        if info is not None:
            camera.count_missed(info)
        self._slots.put(name, Frame(msg, time.monotonic()))

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
        log = self.get_logger()
        batch: list[tuple[Camera, Frame, Any]] = []
        for name, frame in frames.items():
            camera = self._cameras[name]
            try:
                batch.append((camera, frame, camera.convert(frame.msg)))
            except ImageConversionError as err:
                camera.refuse(str(err), log)
        if not batch:
            return
        detector, config = self.slot.take()
        want_saliency = self._outputs.publish_saliency and any(
            c.wants_saliency() for c, _, _ in batch)
        start = time.monotonic()
        results = self._detect(detector, batch, want_saliency)
        elapsed = time.monotonic() - start
        for (camera, frame, image), result in zip(batch, results, strict=True):
            if result is None or slots.closed:
                continue
            published = time.monotonic()
            header = frame.msg.header
            camera.publish(header, image, result, config.backbone,
                           detector.backbone.description_layer, self._outputs, log)
            done = time.monotonic()
            total = done - frame.received
            camera.stats.detection.add(elapsed)
            camera.stats.end_to_end.add(total)
            camera.stats.output.tick()
            camera.publish_timing(header, len(result.keypoints), {
                'detect': elapsed, 'in_node': total, 'waited': taken - frame.received,
                'publish': done - published})
            log.debug(
                f'frame {header.stamp.sec}.{header.stamp.nanosec:09d} on {camera.topics.input}: '
                f'{len(result.keypoints)} keypoints, detect_ms={elapsed * 1e3:.2f} '
                f'in_node_ms={total * 1e3:.2f} waited_ms={(taken - frame.received) * 1e3:.2f} '
                f'publish_ms={(done - published) * 1e3:.2f}')

    def _detect(self, detector: ElfDetector, batch: list, want_saliency: bool) -> list:
        """Results in batch order; a refused image is counted, logged and gets None."""
        results = detect_each(detector, [image for _, _, image in batch], want_saliency,
                              refused=(Exception,))  # e.g. an image too small for the network
        for (camera, _, _), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                camera.refuse(f'detector refused the image: {result}', self.get_logger())
        return [None if isinstance(r, Exception) else r for r in results]

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        detector, config = self.slot.current()
        if detector is None:
            return
        device, backbone = str(detector.device), config.backbone
        now = time.monotonic()
        for name, camera in self._cameras.items():
            dropped = self._slots.dropped[name]
            msg.status.append(camera_status(
                camera.diagnostic_name, camera.stats, self._limits, device, {
                    'frames_dropped': dropped + camera.missed,
                    'frames_dropped_by_node': dropped,
                    'frames_dropped_before_node': camera.missed,
                    'device': device, 'backbone': backbone, 'runtime': detector.runtime,
                    'detector_builds': self.slot.builds}, now))
        self._diagnostics.publish(msg)

    # -- shutdown --------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> bool:
        """Stop the worker and the builder; False when one is still busy after `timeout` s."""
        start = time.monotonic()
        idle = self._stop(timeout)
        left = max(0.0, timeout - (time.monotonic() - start))
        return self.slot.close(left) and idle

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


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C/SIGTERM (exit 0); exit 1 with the reason if it cannot start."""
    return run_node(ElfNode, make_executor, (StartupError,), 'elf_node',
                    sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
