"""
The node's detector slot without ROS: the rebuild decision, build/swap/revert, pending changes.

Real detectors (random-weight VGG16 on small images, built in well under a second) behind the
same slot the node uses; no rclpy needed.
"""
import logging
import threading

import numpy as np
import pytest

from elf_ros.core import ConfigError, DetectorConfig, FIELD_SPECS, RUNTIME_FIELDS
from elf_ros.ros.slot import (
    build_detector,
    DetectorSlot,
    NETWORK_FIELDS,
    runtime_diff,
    same_network,
    StartupError,
)

LOG = logging.getLogger('test_slot')


def config(**kw) -> DetectorConfig:
    base = dict(backbone='vgg16', weights='random', device='cpu', nms_radius=4, border=4,
                max_keypoints=50, input_long_side=96)
    base.update(kw)
    return DetectorConfig(**base).validate()


def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)


class Failures:
    """Records the slot's on_failure calls (running config, running preset)."""

    def __init__(self) -> None:
        self.calls: list[tuple[DetectorConfig, str]] = []

    def __call__(self, running: DetectorConfig, preset: str) -> None:
        self.calls.append((running, preset))


def loaded(**kw) -> tuple[DetectorSlot, Failures]:
    failures = Failures()
    slot = DetectorSlot(config(**kw), 'random', LOG, failures)
    slot.load()
    return slot, failures


def test_network_fields_are_exactly_the_non_runtime_fields():
    assert set(NETWORK_FIELDS) == set(FIELD_SPECS) - set(RUNTIME_FIELDS)
    base = config()
    # One changed field at a time: the network is the same exactly when it is a runtime field.
    changed = {'max_keypoints': 7, 'nms_radius': 2, 'threshold_scale': 0.5, 'subpixel': True,
               'backbone': 'alexnet', 'input_long_side': 64, 'description_layer': 'pool2'}
    for name, value in changed.items():
        other = base.replace(**{name: value})
        assert same_network(base, other) == (name in RUNTIME_FIELDS), name
        assert runtime_diff(base, other) == ({name: value} if name in RUNTIME_FIELDS else {})


def test_runtime_change_applies_from_the_next_frame_without_a_build():
    slot, failures = loaded()
    first = slot.detector
    slot.change({'max_keypoints': 5})
    detector, running = slot.take()
    assert detector is first and slot.builds == 1
    assert running.max_keypoints == 5 == slot.target.max_keypoints
    (result,) = detector.detect([image()])
    assert len(result.keypoints) <= 5
    assert slot.wait_idle(5) and not failures.calls


def test_network_change_is_built_in_the_background_and_swapped_in():
    slot, failures = loaded()
    old = slot.detector
    slot.change({'description_layer': 'pool2', 'max_keypoints': 9})
    # Accepted at once; until the swap the old detector serves with the old config.
    assert slot.target.description_layer == 'pool2'
    assert slot.wait_idle(60)
    detector, running = slot.take()
    assert detector is not old and slot.builds == 2 and not failures.calls
    assert running == slot.target
    assert detector.backbone.description_layer == 'pool2'
    (result,) = detector.detect([image()])
    assert 0 < len(result.keypoints) <= 9


def test_no_op_change_costs_nothing():
    slot, _ = loaded()
    before = slot.target
    slot.change({name: getattr(before, name) for name in FIELD_SPECS})
    assert slot.wait_idle(5) and slot.builds == 1 and slot.target is before


@pytest.mark.parametrize('changes, preset, reason', [
    ({'nms_radius': -1}, None, 'nms_radius'),
    ({'backbone': 'vgg16', 'detection_layer': 'nope'}, None, 'nope'),
    ({'weights': '/nonexistent/weights.pth'}, None, 'does not exist'),
    ({}, 'resnet9000', "preset: unknown 'resnet9000'"),
])
def test_invalid_change_is_refused_and_changes_nothing(changes, preset, reason):
    slot, _ = loaded()
    before, preset_before = slot.target, slot.preset
    with pytest.raises(ConfigError, match=reason):
        slot.change(changes, preset)
    assert slot.target is before and slot.preset == preset_before and slot.builds == 1


def test_failed_build_keeps_the_detector_and_reports_the_running_config(tmp_path):
    slot, failures = loaded()
    old, running = slot.current()
    bad = tmp_path / 'not_weights.pth'
    bad.write_bytes(b'this is not a torch file')
    slot.change({'weights': str(bad)}, preset='vgg16')  # exists, so accepted; fails to build
    assert slot.wait_idle(60)
    assert failures.calls == [(running, 'random')]
    assert slot.current() == (old, running) and slot.builds == 2


def test_change_before_load_is_built_by_load():
    slot = DetectorSlot(config(), 'random', LOG, Failures())
    slot.change({'max_keypoints': 3, 'description_layer': 'pool2'})
    assert slot.detector is None and slot.builds == 0
    slot.load()
    detector, running = slot.take()
    assert running.max_keypoints == 3 and detector.backbone.description_layer == 'pool2'
    assert slot.builds == 1


def test_build_finishing_after_unload_is_dropped():
    gate = threading.Event()
    started = threading.Event()

    def gated_build(cfg, log):
        if slot.builds >= 1:  # the rebuild (not the first load) waits for the gate
            started.set()
            gate.wait(30)
        return build_detector(cfg, log)

    slot = DetectorSlot(config(), 'random', LOG, Failures(), build=gated_build)
    slot.load()
    slot.change({'description_layer': 'pool2'})
    assert started.wait(30)
    assert slot.unload() is False  # the build is still running
    gate.set()
    slot.close(30)
    assert slot.current() == (None, None)


def test_unbuildable_first_load_is_a_startup_error():
    slot = DetectorSlot(config(weights='/nonexistent/w.pth'), 'random', LOG, Failures())
    with pytest.raises(StartupError, match='cannot build the detector'):
        slot.load()


def test_switching_to_an_exported_front_end_keeps_the_detections(tmp_path):
    """The node's runtime/exported_model parameters: rebuilt on ONNX Runtime, same keypoints."""
    pytest.importorskip('onnxruntime')
    from elf_ros.export.cli import main as elf_export

    model = tmp_path / 'vgg16.onnx'
    assert elf_export([str(model), '--preset', 'random', '--width', '96', '--height', '72',
                       '--set', 'detection_layer=pool2', '--set', 'description_layer=pool3']) == 0
    slot, failures = loaded(detection_layer='pool2', description_layer='pool3')
    torch_detector, _ = slot.current()
    slot.change({'runtime': 'onnxruntime', 'exported_model': str(model)})
    assert slot.wait_idle(60) and not failures.calls
    onnx_detector, running = slot.current()
    assert running.runtime == 'onnxruntime' and onnx_detector.network is None
    (want,), (got,) = torch_detector.detect([image()]), onnx_detector.detect([image()])
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3)


def test_saliency_upsample_rebuilds_an_engine_front_end_and_updates_autograd():
    """A runtime preset switch to the fine preset must not leave the fine pass on autograd."""
    slot, failures = loaded(runtime='autograd')
    slot.change({'saliency_upsample': 2.0})
    assert slot.wait_idle(5) and slot.builds == 1        # autograd runs any factor as it is
    detector, running = slot.take()
    assert running.saliency_upsample == 2.0 and detector.serves_upsample(2.0)

    pytest.importorskip('onnxruntime')
    slot, failures = loaded(runtime='onnxruntime')
    engine = slot.detector
    assert engine.runtime == 'onnxruntime' and not engine.serves_upsample(2.0)
    slot.change({'saliency_upsample': 2.0, 'max_keypoints': 20})
    assert slot.wait_idle(60) and not failures.calls
    detector, running = slot.take()
    assert slot.builds == 2 and detector is not engine and detector.runtime == 'onnxruntime'
    assert running.saliency_upsample == 2.0 and detector.serves_upsample(2.0)
    (result,) = detector.detect([image()])
    assert 0 < len(result.keypoints) <= 20


def test_saliency_upsample_on_an_exported_model_is_refused_by_a_failed_build(tmp_path):
    """The file holds one fine pass: another factor is a failed rebuild, reported and reverted."""
    pytest.importorskip('onnxruntime')
    from elf_ros.export.cli import main as elf_export

    model = tmp_path / 'vgg16.onnx'
    assert elf_export([str(model), '--preset', 'random', '--width', '96', '--height', '72',
                       '--set', 'detection_layer=pool2', '--set', 'description_layer=pool3']) == 0
    slot, failures = loaded(detection_layer='pool2', description_layer='pool3',
                            runtime='onnxruntime', exported_model=str(model))
    old, running = slot.current()
    slot.change({'saliency_upsample': 2.0})
    assert slot.wait_idle(60)
    assert failures.calls == [(running, 'random')] and slot.current() == (old, running)
    detector, config = slot.take()                      # still serving, nothing pending
    assert config.saliency_upsample == 1.0 and len(detector.detect([image()])[0]) > 0
