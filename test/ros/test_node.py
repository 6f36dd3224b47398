"""elf_node through real Fast DDS: outputs, encodings, bad input, cameras, bursts, parameters."""
import time

import numpy as np
import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from ros_harness import frame, InProcessNode  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from elf_ros.ros.messages import descriptors_from_msg, keypoints_from_msg  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module')
def running():
    """One node with the default single camera `image`, shared by the read-only tests."""
    harness = InProcessNode()
    for topic in ('keypoints', 'descriptors', 'saliency', 'debug_image'):
        harness.probe.listen(topic)
    harness.probe.listen('/diagnostics', DiagnosticArray)
    harness.probe.handshake('image', 'keypoints')
    yield harness
    harness.close()


def check_outputs(probe, stamp, width, height, prefix='', frame_id='cam'):
    """Assert the outputs of one frame are consistent; returns (keypoints, descriptors)."""
    kps = probe.wait_for(prefix + 'keypoints', stamp)
    desc = probe.wait_for(prefix + 'descriptors', stamp)
    for msg in (kps, desc):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
        assert msg.header.frame_id == frame_id
    assert (kps.image_width, kps.image_height) == (width, height)
    xy, scores = keypoints_from_msg(kps)
    matrix = descriptors_from_msg(desc)
    assert desc.rows == len(kps.keypoints) == matrix.shape[0]
    assert len(kps.keypoints) > 0, 'a real camera frame should give keypoints'
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    assert (xy >= 0).all() and (xy[:, 0] <= width - 1).all() and (xy[:, 1] <= height - 1).all()
    assert (np.diff(scores) <= 0).all() and scores.min() >= 0 and scores.max() <= 1
    assert desc.backbone == 'vgg16' and desc.layer == 'conv3_1' and desc.cols == 256
    return xy, matrix


@pytest.mark.parametrize('encoding, padding, big_endian', [
    ('rgb8', 0, False), ('bgr8', 0, False), ('rgba8', 0, False), ('bgra8', 0, False),
    ('mono8', 0, False), ('mono16', 0, False), ('mono16', 6, True), ('rgb8', 17, False),
    ('bayer_rggb8', 0, False), ('bayer_grbg8', 3, False), ('yuv422', 0, False),
    ('yuv422_yuy2', 4, False),
])
def test_every_encoding_gives_keypoints_and_descriptors(running, encoding, padding, big_endian):
    probe = running.probe
    stamp = probe.send('image', frame(1, (200, 150)), encoding, padding, big_endian)
    check_outputs(probe, stamp, 200, 150)


def test_saliency_and_debug_image_carry_the_source_header(running):
    probe = running.probe
    for topic in ('saliency', 'debug_image'):  # outputs exist once someone subscribes
        probe.wait(lambda t=topic: running.node.count_subscribers(t) > 0, 10, topic)
    stamp = probe.send('image', frame(2, (200, 150)), frame_id='cam')
    for topic in ('saliency', 'debug_image'):
        msg = probe.wait_for(topic, stamp)
        assert msg.header.frame_id == 'cam' and (msg.width, msg.height) == (200, 150)
        assert msg.encoding == 'rgb8' and len(msg.data) == msg.step * msg.height


def test_frame_timing_tells_where_each_frames_time_went(running):
    """What the node benchmark reads: per frame, stamped with its header, ms values."""
    probe = running.probe
    probe.listen('frame_timing', DiagnosticArray)
    probe.wait(lambda: running.node.count_subscribers('frame_timing') > 0, 10, 'frame_timing')
    stamp = probe.send('image', frame(3, (200, 150)))
    kps = probe.wait_for('keypoints', stamp)
    timing = probe.wait_for('frame_timing', stamp)
    (status,) = timing.status
    values = {kv.key: float(kv.value) for kv in status.values}
    assert status.name == running.node._cameras['image'].topics.input
    assert status.message == f'{len(kps.keypoints)} keypoints'
    assert set(values) == {'detect_ms', 'in_node_ms', 'waited_ms', 'publish_ms'}
    assert all(v >= 0 for v in values.values())
    # The frame's time in the node holds its wait, its detection and its publishing (each
    # value rounded to 1 us).
    parts = values['waited_ms'] + values['detect_ms'] + values['publish_ms']
    assert values['in_node_ms'] >= parts - 0.005


def test_bad_input_is_dropped_and_the_node_keeps_working(running):
    probe = running.probe
    refused = [
        Image(height=8, width=8, encoding='32FC1', step=32, data=bytes(256)),
        Image(height=120, width=160, encoding='rgb8', step=480, data=bytes(1000)),
        Image(height=0, width=0, encoding='rgb8', step=0),
        Image(height=1, width=1, encoding='rgb8', step=3, data=bytes(3)),   # below min_source_side
    ]
    stats = running.node._cameras['image'].stats
    for msg in refused:
        # One at a time, each until refused: on a busy machine the worker may still be on an
        # earlier frame (a waiting message would be superseded) and best effort may lose one.
        before = stats.rejected
        deadline = time.monotonic() + 20.0
        while stats.rejected == before:
            assert time.monotonic() < deadline, f'{msg.encoding} {msg.width}x{msg.height}'
            probe.send('image', msg=msg)
            resend = time.monotonic() + 2.0
            while stats.rejected == before and time.monotonic() < resend:
                time.sleep(0.05)
    stamp = probe.send('image', frame(3))
    check_outputs(probe, stamp, 160, 120)
    name = f'{running.namespace}/elf_node: {running.namespace}/image'
    probe.wait(lambda: _camera_value(probe, 'frames_rejected', name) >= 4, 10, 'diagnostics')
    reasons = ' '.join(running.node._cameras['image'].reasons_logged)
    for reason in ('unsupported encoding', 'less than step x height', 'empty image',
                   '1x1 is too small'):
        assert reason in reasons, reasons


def _status(probe, name):
    """Return the latest /diagnostics status called `name`, or None."""
    for msg in reversed(list(probe.received['/diagnostics'].values())):
        for status in msg.status:
            if status.name == name:
                return status
    return None


def _camera_value(probe, key, name):
    status = _status(probe, name)
    return float({kv.key: kv.value for kv in status.values}[key]) if status else float('nan')


def test_diagnostics_report_rates_latency_and_device(running):
    probe = running.probe
    name = f'{running.namespace}/elf_node: {running.namespace}/image'
    for i in range(3):
        probe.wait_for('keypoints', probe.send('image', frame(i)))
    probe.received['/diagnostics'].clear()
    probe.wait(lambda: _status(probe, name) is not None, 5, '/diagnostics')
    status = _status(probe, name)
    values = {kv.key: kv.value for kv in status.values}
    assert values['device'] == 'cpu' and status.hardware_id == 'cpu'
    assert values['runtime'] == 'autograd'        # runtime auto with a VGG backbone on a CPU
    for key in ('input_rate_hz', 'output_rate_hz', 'frames_dropped',
                'detection_latency_p50_ms', 'detection_latency_p99_ms'):
        assert key in values
    assert float(values['detection_latency_p50_ms']) > 0
    assert float(values['frames_processed']) >= 3


def test_a_burst_leaves_no_backlog(running):
    probe = running.probe
    stamps = [probe.send('image', frame(i)) for i in range(25)]  # far faster than detection
    burst_end = time.monotonic()
    probe.wait_for('keypoints', stamps[-1], timeout=60)
    time.sleep(1.0)  # anything still queued somewhere would show up now
    served = [(s, t) for s, t in probe.arrivals['keypoints'] if s in stamps]
    after = [s for s, t in served if t > burst_end]
    # At most the frame in the detector when the burst ended, then the newest one; nothing else.
    assert after[-1] == stamps[-1] and len(after) <= 2, after
    assert len(served) < len(stamps) / 2


def test_two_cameras_get_separate_correct_outputs():
    harness = InProcessNode(image_topics=['left/image', '/right/image_raw'])
    try:
        probe = harness.probe
        for topic in ('left/keypoints', 'left/descriptors', '/right/keypoints',
                      '/right/descriptors'):
            probe.listen(topic)
        probe.handshake('left/image', 'left/keypoints')
        probe.handshake('/right/image_raw', '/right/keypoints')
        left, right = frame(0, (160, 120)), frame(5, (200, 150))[:, ::-1].copy()
        s_left = probe.send('left/image', left, frame_id='left_cam')
        s_right = probe.send('/right/image_raw', right, frame_id='right_cam')
        xy_l, d_l = check_outputs(probe, s_left, 160, 120, 'left/', 'left_cam')
        xy_r, d_r = check_outputs(probe, s_right, 200, 150, '/right/', 'right_cam')
        # Each camera's result is the detector's result on that camera's own image.
        ref_l, ref_r = harness.node.slot.detector.detect([left, right])
        np.testing.assert_allclose(xy_l, ref_l.keypoints, atol=1e-3)
        np.testing.assert_allclose(xy_r, ref_r.keypoints, atol=1e-3)
        np.testing.assert_allclose(d_l, ref_l.descriptors, atol=1e-4)
    finally:
        harness.close()


def test_runtime_parameters_change_output_and_bad_values_change_nothing():
    harness = InProcessNode()
    try:
        probe = harness.probe
        probe.listen('keypoints')
        probe.listen('descriptors')
        probe.handshake('image', 'keypoints')
        image = frame(4)
        before = len(probe.wait_for('keypoints', probe.send('image', image)).keypoints)
        assert before > 5

        (result,) = probe.set_parameters({'max_keypoints': 5})
        assert result.successful
        assert len(probe.wait_for('keypoints', probe.send('image', image)).keypoints) == 5

        for bad, reason in (({'threshold_blur_kernel': 4}, 'odd'),
                            ({'backbone': 'resnet-nope'}, 'backbone'),
                            ({'nms_radius': -3}, ''),
                            ({'weights': '/nonexistent/weights.pth'}, 'weights')):
            (result,) = probe.set_parameters(bad)
            assert not result.successful and reason in result.reason, (bad, result.reason)
        assert probe.get_parameters(['threshold_blur_kernel', 'backbone', 'nms_radius',
                                     'weights']) == [5, 'vgg16', 10, 'random']
        assert len(probe.wait_for('keypoints', probe.send('image', image)).keypoints) == 5

        # A network change rebuilds the detector in the background: pool4 descriptors are 512-D.
        (result,) = probe.set_parameters({'description_layer': 'pool4'})
        assert result.successful, result.reason
        assert harness.node.slot.wait_idle(60)
        desc = probe.wait_for('descriptors', probe.send('image', image))
        assert desc.cols == 512 and desc.layer == 'pool4' and desc.rows == 5
    finally:
        harness.close()


def test_destroy_node_alone_stops_the_worker():
    """In-process users (their own launcher, composition) often only call destroy_node()."""
    harness = InProcessNode()
    worker = harness.node._worker
    harness.executor.shutdown(timeout_sec=5.0)
    harness.node.destroy_node()
    worker.join(2.0)
    assert not worker.is_alive()
    harness.probe.node.destroy_node()
    harness.context.shutdown()
