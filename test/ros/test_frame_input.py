"""A paired frame as elf_matcher and elf_tracker read it: good, malformed, unusable image."""
import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from elf_ros.ros import messages  # noqa: E402
from elf_ros.ros.frame_input import read_frame  # noqa: E402

pytestmark = pytest.mark.ros


class Warnings:
    """Collects what a node's logger would print (the text operators read)."""

    def __init__(self):
        self.lines = []

    def warning(self, text, **_kwargs):
        self.lines.append(text)


def features_msg(n=5, dim=8):
    rng = np.random.default_rng(0)
    return messages.features(Header(), 64, 48, rng.random((n, 2), np.float32) * 40,
                             rng.random(n, np.float32), rng.random((n, dim), np.float32),
                             'efficientnet_lite1', 'stage3')


def test_a_good_frame_with_its_image():
    log = Warnings()
    pixels = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    frame = read_frame(features_msg(), messages.image_msg(Header(), pixels, 'rgb8'), log)
    assert frame is not None and frame.keypoints.shape == (5, 2)
    assert frame.descriptors.shape == (5, 8) and np.array_equal(frame.image, pixels)
    assert log.lines == []


def test_a_malformed_message_is_skipped_and_an_unusable_image_dropped():
    log = Warnings()
    bad = features_msg()
    bad.descriptor_length = 7                        # 40 floats are not rows of 7
    assert read_frame(bad, None, log) is None
    assert log.lines[-1].startswith('ignoring a malformed Features message')
    image = Image(height=48, width=64, encoding='yuv422_weird', step=64, data=bytes(48 * 64))
    frame = read_frame(features_msg(), image, log, 'tracking without the image')
    assert frame is not None and frame.image is None and len(frame.keypoints) == 5
    assert log.lines[-1].startswith('tracking without the image: ')
