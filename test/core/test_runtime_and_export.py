"""Runtimes of the front end and its ONNX export give the detections of the autograd reference."""
import cv2
import numpy as np
import pytest
import torch

from elf_ros.core import ConfigError, ElfDetector
from elf_ros.core.runtime import require, RuntimeUnavailableError, set_cpu_threads
from elf_ros.export.cli import main as elf_export

from .conftest import small_config, textured

LITE = dict(backbone='efficientnet_lite0', detection_layer='stem_conv',
            description_layer='stage2,stage3', shift_averaging=2)


def assert_same_detections(got, ref, atol=1e-4):
    assert len(got) == len(ref) > 10
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=atol)
    np.testing.assert_allclose(got.descriptors, ref.descriptors, atol=atol)
    np.testing.assert_allclose(got.saliency, ref.saliency, atol=atol)


@pytest.mark.parametrize('kw', [{}, LITE], ids=['vgg16', 'lite0'])
def test_forward_runtime_detects_what_autograd_detects(kw):
    img = [textured(96, 128), textured(96, 128, seed=1)]
    ref = ElfDetector(small_config(runtime='autograd', **kw)).detect(img, return_saliency=True)
    got = ElfDetector(small_config(runtime='forward', **kw)).detect(img, return_saliency=True)
    for g, r in zip(got, ref, strict=True):
        assert_same_detections(g, r, atol=1e-5)


def test_onnxruntime_runs_the_export_like_torch():
    pytest.importorskip('onnxruntime')
    img = [textured(96, 128), textured(80, 112, seed=2)]      # two sizes: a dynamic-size graph
    ref = ElfDetector(small_config(runtime='autograd', **LITE)).detect(
        img, return_saliency=True)
    got = ElfDetector(small_config(runtime='onnxruntime', **LITE)).detect(
        img, return_saliency=True)
    for g, r in zip(got, ref, strict=True):
        assert_same_detections(g, r)


def test_elf_export_file_runs_in_the_detector_at_any_batch(tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    path = tmp_path / 'front.onnx'
    sets = ['weights=random', 'input_long_side=0', 'max_keypoints=200', 'nms_radius=4',
            'border=4']
    code = elf_export([str(path), '--preset', 'efficientnet_lite0', '--width', '64',
                       '--height', '48', '--check', *[f'--set={s}' for s in sets]])
    report = capsys.readouterr().out
    assert code == 0 and path.is_file(), report
    diffs = [float(line.split('torch| ')[1].split()[0]) for line in report.splitlines()
             if line.startswith('check ')]
    assert len(diffs) == 3 and max(diffs) < 1e-4, report      # saliency + 2 description maps
    cfg = dict(backbone='efficientnet_lite0', weights='random', detection_layer='stem_conv',
               description_layer='stage3,stage5', preprocessing='imagenet', shift_averaging=4)
    ref = ElfDetector(small_config(runtime='autograd', **cfg))
    run = ElfDetector(small_config(runtime='onnxruntime', exported_model=str(path), **cfg))
    assert run.network is None and run.descriptor_dim == ref.descriptor_dim
    for batch in (1, 3):
        img = [textured(96, 128, seed=s) for s in range(batch)]
        for g, r in zip(run.detect(img), ref.detect(img), strict=True):
            np.testing.assert_allclose(g.keypoints, r.keypoints, atol=1e-4)
            np.testing.assert_allclose(g.descriptors, r.descriptors, atol=1e-4)


def test_an_export_for_another_front_end_is_refused(tmp_path):
    pytest.importorskip('onnxruntime')
    path = tmp_path / 'fixed.onnx'
    assert elf_export([str(path), '--preset', 'random', '--width', '64', '--height', '48',
                       '--fixed-size']) == 0
    with pytest.raises(ConfigError, match='shift_averaging: file 1, config 2'):
        ElfDetector(small_config(detection_layer='pool2', description_layer='pool3',
                                 runtime='onnxruntime', exported_model=str(path),
                                 shift_averaging=2, input_width=64, input_height=48))
    with pytest.raises(ConfigError, match='fixed at 64x48'):
        ElfDetector(small_config(detection_layer='pool2', description_layer='pool3',
                                 runtime='onnxruntime', exported_model=str(path)))


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="onnxruntime, openvino or auto, got runtime 'forward'"):
        small_config(runtime='forward', exported_model='x.onnx').validate()
    with pytest.raises(ConfigError, match='no file'):
        ElfDetector(small_config(runtime='onnxruntime',
                                 exported_model=str(tmp_path / 'missing.onnx')))
    (tmp_path / 'junk.onnx').write_bytes(b'not a model')
    with pytest.raises(ConfigError, match='not an ONNX model'):
        ElfDetector(small_config(runtime='onnxruntime',
                                 exported_model=str(tmp_path / 'junk.onnx')))
    with pytest.raises(RuntimeUnavailableError, match='pip install no-such-engine'):
        require('no_such_engine_module', 'no-such-engine', 'onnxruntime')


def test_auto_runtime_is_onnxruntime_for_lite_on_a_cpu_and_autograd_elsewhere(tmp_path):
    """The default: the measured fastest exact runtime where it applies, autograd elsewhere."""
    pytest.importorskip('onnxruntime')
    img = [textured(96, 128), textured(80, 112, seed=2)]
    auto = ElfDetector(small_config(**LITE))
    assert auto.config.runtime == 'auto' and auto.runtime == 'onnxruntime'
    ref = ElfDetector(small_config(runtime='autograd', **LITE))
    for g, r in zip(auto.detect(img, return_saliency=True),
                    ref.detect(img, return_saliency=True), strict=True):
        assert_same_detections(g, r)
    assert ElfDetector(small_config()).runtime == 'autograd'                       # VGG
    assert ElfDetector(small_config(saliency_upsample=2.0, **LITE)).runtime == 'onnxruntime'
    assert ElfDetector(small_config(runtime='forward', **LITE)).runtime == 'forward'


FINE = dict(LITE, subpixel=True, nms_mode='float', threshold_scale=0.25, subpixel_window=5)


@pytest.mark.parametrize('runtime, up', [('forward', 2.0), ('onnxruntime', 2.0),
                                         ('onnxruntime', 1.5)])
def test_fine_detection_pass_runs_in_every_front_end(runtime, up):
    """saliency_upsample inside the forward-operation / exported front end = autograd's."""
    if runtime == 'onnxruntime':
        pytest.importorskip('onnxruntime')
    img = [textured(96, 128), textured(80, 112, seed=2)]
    ref = ElfDetector(small_config(runtime='autograd', saliency_upsample=up, **FINE))
    got = ElfDetector(small_config(runtime=runtime, saliency_upsample=up, **FINE))
    for g, r in zip(got.detect(img, return_saliency=True),
                    ref.detect(img, return_saliency=True), strict=True):
        assert_same_detections(g, r)


def test_a_runtime_change_of_saliency_upsample_keeps_engine_detectors_exact():
    """Built for one factor, asked for another: the torch network runs it until a rebuild."""
    pytest.importorskip('onnxruntime')
    img = [textured(96, 128, seed=4)]
    det = ElfDetector(small_config(runtime='onnxruntime', **FINE))
    for up in (2.0, 1.0):
        det.update(saliency_upsample=up)
        (ref,) = ElfDetector(small_config(runtime='autograd', saliency_upsample=up,
                                          **FINE)).detect(img)
        (got,) = det.detect(img)
        np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
        np.testing.assert_allclose(got.descriptors, ref.descriptors, atol=1e-4)


def test_an_exported_fine_front_end_runs_and_other_factors_are_refused(tmp_path):
    pytest.importorskip('onnxruntime')
    path = tmp_path / 'fine.onnx'
    sets = ['weights=random', 'input_long_side=0', 'saliency_upsample=2.0']
    assert elf_export([str(path), '--preset', 'efficientnet_lite0', '--width', '64',
                       '--height', '48', *[f'--set={s}' for s in sets]]) == 0
    cfg = dict(backbone='efficientnet_lite0', weights='random', detection_layer='stem_conv',
               description_layer='stage3,stage5', preprocessing='imagenet', shift_averaging=4,
               subpixel=True, nms_mode='float', saliency_upsample=2.0)
    img = [textured(96, 128, seed=6)]
    (ref,) = ElfDetector(small_config(runtime='autograd', **cfg)).detect(img)
    run = ElfDetector(small_config(exported_model=str(path), **cfg))      # runtime auto
    assert run.runtime == 'onnxruntime' and run.network is None
    (got,) = run.detect(img)
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
    with pytest.raises(ConfigError, match='exported with 2.0'):
        run.update(saliency_upsample=1.0)
    with pytest.raises(ConfigError, match='saliency_upsample: file 2.0, config 1.0'):
        ElfDetector(small_config(exported_model=str(path), **dict(cfg, saliency_upsample=1.0)))


def test_auto_falls_back_to_autograd_when_the_engine_cannot_be_built(monkeypatch):
    """A failed export or engine start must not stop a detector autograd can run."""
    pytest.importorskip('onnxruntime')
    import elf_ros.core.export as export

    def broken_export(*_args, **_kwargs):
        raise RuntimeError('exporter crashed')
    monkeypatch.setattr(export, 'export_onnx', broken_export)     # the fault, injected
    img = [textured(96, 128, seed=3)]
    det = ElfDetector(small_config(**LITE))
    assert det.runtime == 'autograd'
    assert det.runtime_note == ('auto: onnxruntime could not be built (RuntimeError: exporter '
                                'crashed); running autograd')
    (ref,) = ElfDetector(small_config(runtime='autograd', **LITE)).detect(
        img, return_saliency=True)
    assert_same_detections(det.detect(img, return_saliency=True)[0], ref)
    with pytest.raises(RuntimeError, match='exporter crashed'):    # asked for by name: an error
        ElfDetector(small_config(runtime='onnxruntime', **LITE))


def test_rotated_copies_run_on_the_engine_like_torch():
    """The orientation's copies through the exported description taps = the torch network's."""
    pytest.importorskip('onnxruntime')
    img = [textured(96, 128, seed=8)]
    rot = dict(LITE, subpixel=True, orientation='centroid', rotations=8)
    (ref,) = ElfDetector(small_config(runtime='autograd', **rot)).detect(img)
    (got,) = ElfDetector(small_config(runtime='onnxruntime', **rot)).detect(img)
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
    np.testing.assert_allclose(got.angles, ref.angles, atol=1e-3)
    np.testing.assert_allclose(got.descriptors, ref.descriptors, atol=1e-4)
    np.testing.assert_allclose(got.upright_descriptors, ref.upright_descriptors, atol=1e-4)


def test_torchvision_backbones_keep_the_autograd_runtime():
    with pytest.raises(Exception, match='autograd'):
        ElfDetector(small_config(backbone='torchvision:mobilenet_v3_small', runtime='forward'))


@pytest.mark.parametrize('runtime', ['bf16', 'openvino'])
def test_other_runtimes_stay_close_to_autograd(runtime):
    """bf16 rounds the network; OpenVINO runs the export in f32: most keypoints agree."""
    if runtime == 'openvino':
        pytest.importorskip('openvino')
    img = [textured(96, 128)]
    (ref,) = ElfDetector(small_config(runtime='autograd', **LITE)).detect(img)
    (got,) = ElfDetector(small_config(runtime=runtime, **LITE)).detect(img)
    dist = torch.cdist(torch.from_numpy(ref.keypoints), torch.from_numpy(got.keypoints))
    within = (dist.min(dim=1).values <= 1.0).float().mean().item()
    assert within >= (0.99 if runtime == 'openvino' else 0.8)


def test_benchmarks_run_an_exported_model_and_compare_runtimes(tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    import json

    from elf_ros.bench import cli as bench
    from elf_ros.bench import runtimes_cli as runtimes

    path = tmp_path / 'random.onnx'
    assert elf_export([str(path), '--preset', 'random', '--width', '96', '--height', '64']) == 0
    out = tmp_path / 'bench.json'
    assert bench.main(['--presets', 'random', '--width', '96', '--height', '64', '--repeats',
                       '1', '--warmup', '0', '--device', 'cpu', '--runtime', 'onnxruntime',
                       '--exported-model', str(path), '--json', str(out)]) == 0
    row = json.loads(out.read_text())['rows'][0]
    assert row['method'] == 'elf-random (onnxruntime)' and row['bare_ms'] > 0
    out = tmp_path / 'runtimes.json'
    assert runtimes.main(['--presets', 'random', '--runtimes', 'autograd', 'forward',
                          'onnxruntime', '--width', '96', '--height', '64', '--repeats', '1',
                          '--warmup', '0', '--check-images', '--json', str(out)]) == 0
    rows = json.loads(out.read_text())['rows']
    assert [r['runtime'] for r in rows] == ['autograd', 'forward', 'onnxruntime', '-']
    for r in rows[:3]:          # the same detections as autograd on the benchmark frame
        assert r['within_1px'] == 1.0 and r['cosine_mean'] > 0.9999 and r['exact_enough']
    assert 'exact enough' in capsys.readouterr().out


def test_set_cpu_threads_sets_torch_and_opencv():
    """One call sets both libraries (the node's cpu_threads, the CLIs' --threads)."""
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        set_cpu_threads(1)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
