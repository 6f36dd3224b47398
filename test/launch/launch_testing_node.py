"""
elf.launch.py under launch_testing: the launched node answers an image with keypoints.

Run by launch_testing's runner: `launch_test test/launch/launch_testing_node.py` (a real ROS 2
install, or the CLI of ../shared/ros2-cli; test_launch_cli.py runs it). Not named test_*.py, so
pytest alone does not collect it (without the launch_testing plugin it would only skip).
"""
import os
from pathlib import Path
import tempfile
import time
import unittest

import numpy as np
import pytest

pytest.importorskip(
    'launch_testing', reason='launch_testing is not installed (not on PyPI; real ROS has it)')
pytest.importorskip('launch_ros', reason='launch_ros is not installed (not on PyPI)')
pytest.importorskip('launch.launch_description_sources',
                    reason='the ROS launch package is not installed')

from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from elf_ros.formats.images import image_from_rgb  # noqa: E402
from elf_ros.msg import KeypointArray  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / 'launch' / 'elf.launch.py'
FRAME_PERIOD_S = 0.25
NAMESPACE = f'launch_test_{os.getpid()}'


@pytest.mark.launch_test
def generate_test_description():
    params = Path(tempfile.mkdtemp()) / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    preset: random\n'
                      '    input_width: 160\n    input_height: 120\n')
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
            launch_arguments={'params_file': str(params), 'namespace': NAMESPACE,
                              'image_topics': 'cam/image', 'device': 'cpu'}.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestLaunchedNode(unittest.TestCase):

    def test_image_in_keypoints_out(self):
        rclpy.init()
        node = rclpy.create_node('launch_probe', namespace=NAMESPACE)
        try:
            got = []
            node.create_subscription(KeypointArray, 'cam/keypoints', got.append, 10)
            pub = node.create_publisher(Image, 'cam/image', 1)
            deadline = time.monotonic() + 120
            rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
            msg = image_from_rgb(Image(), rgb, 'rgb8')
            msg.header.frame_id = 'launch_cam'
            # Keep the camera fed until keypoints come back: a frame published while discovery
            # is still matching the node's subscription is lost (a single frame failed 2 in 10).
            next_frame = 0.0
            while not got and time.monotonic() < deadline:
                if time.monotonic() >= next_frame:
                    pub.publish(msg)
                    next_frame = time.monotonic() + FRAME_PERIOD_S
                rclpy.spin_once(node, timeout_sec=0.05)
            self.assertTrue(got, 'no keypoints from the launched node')
            self.assertEqual(got[0].header.frame_id, 'launch_cam')
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
