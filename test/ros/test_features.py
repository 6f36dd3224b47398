"""The features topic over real Fast DDS: one message equal to keypoints + descriptors."""
import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from ros_harness import frame, InProcessNode  # noqa: E402

from elf_ros.msg import Features  # noqa: E402
from elf_ros.ros.messages import (  # noqa: E402
    descriptors_from_msg,
    features_from_msg,
    keypoints_from_msg,
)

pytestmark = pytest.mark.ros

# Largest |dequantised - float32| per format: half an fp16 ulp near 1, half a uint8 step.
TOLERANCE = {'float32': 0.0, 'float16': 5e-4, 'uint8': None}


@pytest.mark.parametrize('fmt', ['float32', 'float16', 'uint8'])
def test_features_equal_keypoints_and_descriptors(fmt):
    harness = InProcessNode(descriptor_format=fmt)
    try:
        probe = harness.probe
        for topic in ('keypoints', 'descriptors'):
            probe.listen(topic)
        probe.listen('features', Features)
        probe.handshake('image', 'features')
        stamp = probe.send('image', frame(2, (200, 150)), frame_id='left_cam')
        msg = probe.wait_for('features', stamp)
        kps, desc = probe.wait_for('keypoints', stamp), probe.wait_for('descriptors', stamp)
    finally:
        harness.close()
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
    assert msg.header.frame_id == 'left_cam'
    assert (msg.image_width, msg.image_height) == (200, 150)
    assert (msg.backbone, msg.layer) == (desc.backbone, desc.layer)
    xy, scores, matrix = features_from_msg(msg)
    ref_xy, ref_scores = keypoints_from_msg(kps)
    reference = descriptors_from_msg(desc)
    assert len(xy) > 0 and matrix.dtype == np.float32
    np.testing.assert_array_equal(xy, ref_xy)
    np.testing.assert_array_equal(scores, ref_scores)
    assert matrix.shape == reference.shape == (len(xy), msg.descriptor_length)
    if fmt == 'float32':
        assert len(msg.descriptor_bytes) == 0 and msg.descriptor_scale == 0
        np.testing.assert_array_equal(matrix, reference)
    else:
        assert len(msg.descriptors) == 0
        width = 2 if fmt == 'float16' else 1
        assert len(msg.descriptor_bytes) == reference.size * width
        step = 0.5 / msg.descriptor_scale if fmt == 'uint8' else TOLERANCE[fmt]
        assert np.abs(matrix - reference).max() <= step + 1e-6
        assert msg.descriptor_format == (Features.FLOAT16 if fmt == 'float16' else Features.UINT8)
