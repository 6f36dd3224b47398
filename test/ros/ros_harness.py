"""Test plumbing: a real elf_node (in-process or as a process) and a probe node, over Fast DDS."""
from __future__ import annotations

from collections import defaultdict
import os
from pathlib import Path
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import cv2
import numpy as np
from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from elf_ros.formats.images import image_from_rgb
from elf_ros.msg import DescriptorArray, KeypointArray
from elf_ros.ros.node import ElfNode

REPO = Path(__file__).resolve().parents[2]
FRAMES = sorted((REPO / 'data' / 'tum_fr2_desk').glob('*.png'))
# Small and random-weight: these tests check plumbing, not detection quality.
FAST = {'weights': 'random', 'input_width': 160, 'input_height': 120, 'max_keypoints': 300}
# The in-process tests check VGG16's layers (conv3_1, 256-D) with random weights: name the preset
# (the node's default is the offline efficientnet_lite1).
TEST_PRESET = {'preset': 'vgg16'}


def frame(index: int = 0, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """Load a real RGB camera frame (shipped TUM fr2/desk), resized to `size` (w, h)."""
    bgr = cv2.imread(str(FRAMES[index % len(FRAMES)]), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def stamp_key(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


class Probe:
    """Publishes images and records every output, keyed by topic and source stamp."""

    def __init__(self, context: Context, namespace: str = '') -> None:
        self.node = rclpy.create_node('elf_probe', namespace=namespace, context=context)
        self._cond = threading.Condition()
        self.received: dict[str, dict[tuple[int, int], Any]] = defaultdict(dict)
        self.arrivals: dict[str, list[tuple[tuple[int, int], float]]] = defaultdict(list)
        self._publishers: dict[str, Any] = {}
        self._stamp = 0

    def listen(self, topic: str, msg_type=None) -> None:
        """Record messages on an output topic (type guessed from its name)."""
        if msg_type is None:
            msg_type = KeypointArray if topic.endswith('keypoints') else (
                DescriptorArray if topic.endswith('descriptors') else Image)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(msg_type, topic, lambda m: self._on(topic, m), qos)

    def _on(self, topic: str, msg) -> None:
        key = stamp_key(msg.header) if hasattr(msg, 'header') else (0, 0)
        with self._cond:
            self.received[topic][key] = msg
            self.arrivals[topic].append((key, time.monotonic()))
            self._cond.notify_all()

    def publisher(self, topic: str, msg_type=Image):
        if topic not in self._publishers:
            self._publishers[topic] = self.node.create_publisher(
                msg_type, topic, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        return self._publishers[topic]

    def wait_subscribed(self, topic: str, timeout: float = 30.0, msg_type=Image) -> None:
        """Block until the node under test subscribes to `topic` (it does so once ready)."""
        pub = self.publisher(topic, msg_type)
        self.wait(lambda: pub.get_subscription_count() > 0, timeout, f'subscriber on {topic}')

    def handshake(self, image_topic: str, output_topic: str, timeout: float = 60.0,
                  msg=None) -> None:
        """
        Send frames (or `msg`) until one is answered: both ends of both topics are matched.

        A publisher sees a subscriber a moment before that subscriber accepts its data, so a
        single frame sent right after discovery can be lost; later ones cannot.
        """
        self.wait_subscribed(image_topic, timeout, type(msg) if msg is not None else Image)
        deadline = time.monotonic() + timeout
        rgb = np.zeros((120, 160, 3), np.uint8)
        rgb[40:80, 60:100] = 255
        while time.monotonic() < deadline:
            stamp = self.send(image_topic, rgb, frame_id='handshake', msg=msg)
            try:
                self.wait_for(output_topic, stamp, timeout=2.0)
                return
            except AssertionError:
                continue
        raise AssertionError(f'no answer on {output_topic} within {timeout} s')

    def next_stamp(self) -> tuple[int, int]:
        self._stamp += 1
        return self._stamp, 0

    def send(self, topic: str, rgb: np.ndarray | None = None, encoding: str = 'rgb8',
             padding: int = 0, big_endian: bool = False, frame_id: str = 'cam',
             msg: Image | None = None) -> tuple[int, int]:
        """Publish a frame (or a prepared message) with a fresh stamp; returns the stamp."""
        msg = msg if msg is not None else image_from_rgb(
            Image(), rgb, encoding, padding, big_endian)
        sec, nanosec = self.next_stamp()
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        msg.header.frame_id = frame_id
        self.publisher(topic, type(msg)).publish(msg)
        return sec, nanosec

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'timed out after {timeout} s waiting for {what}')
                self._cond.wait(min(left, 0.1))

    def wait_for(self, topic: str, stamp: tuple[int, int], timeout: float = 30.0):
        """Wait for the message on `topic` for the source frame `stamp` and return it."""
        self.wait(lambda: stamp in self.received[topic], timeout, f'{topic} for {stamp}')
        return self.received[topic][stamp]

    def set_parameters(self, params: dict[str, Any], node: str = 'elf_node',
                       timeout: float = 60.0) -> list:
        """Call the node's set_parameters service, as `ros2 param set` does."""
        client = self.node.create_client(SetParameters, f'{node}/set_parameters')
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in params.items()])
        try:
            return self.call(client, request, timeout).results
        finally:
            self.node.destroy_client(client)

    def get_parameters(self, names: list[str], node: str = 'elf_node') -> list:
        client = self.node.create_client(GetParameters, f'{node}/get_parameters')
        try:
            values = self.call(client, GetParameters.Request(names=names), 10.0).values
            return [parameter_value_to_python(v) for v in values]
        finally:
            self.node.destroy_client(client)

    def call(self, client, request, timeout: float = 10.0):
        """Call a service and wait for the answer (the probe is spun by an executor thread)."""
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f'service {client.srv_name} not available')
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f'service {client.srv_name} did not answer')
            time.sleep(0.01)
        return future.result()


class InProcessNode:
    """
    Run elf_node and a probe in one private rclpy context, spun by a background executor.

    Each harness gets its own namespace: nodes of other tests on the same DDS domain must not
    answer its parameter services or feed its topics.
    """

    _count = 0

    def __init__(self, node_class: type = ElfNode, cli_args: list[str] | None = None,
                 **parameters: Any) -> None:
        InProcessNode._count += 1
        self.namespace = f'/t{os.getpid()}_{InProcessNode._count}'
        self.context = Context()
        rclpy.init(context=self.context)
        values = {**TEST_PRESET, **FAST, **parameters}
        overrides = [Parameter(k, value=v) for k, v in values.items()]
        self.node = node_class(context=self.context, namespace=self.namespace,
                               parameter_overrides=overrides, cli_args=cli_args)
        self.probe = Probe(self.context, self.namespace)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.node.close(timeout=10.0)
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        self.probe.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(5.0)


class NodeProcess:
    """`python -m elf_ros.ros.node --ros-args ...` as a child process, as ros2 run starts it."""

    def __init__(self, *ros_args: str, command: list[str] | None = None) -> None:
        command = command or [sys.executable, '-m', 'elf_ros.ros.node']
        self.proc = subprocess.Popen(
            [*command, '--ros-args', *ros_args],
            cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)

    def interrupt(self, timeout: float = 10.0) -> tuple[int, float, str]:
        """Send SIGINT (Ctrl-C); returns (exit status, seconds to exit, all output)."""
        start = time.monotonic()
        self.proc.send_signal(2)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.monotonic() - start, out + err

    def wait(self, timeout: float = 60.0) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
