"""The benchmark command runs and reports every method with its ratios (no timing asserted)."""
import json

from elf_ros.bench import cli as benchmark


def test_benchmark_command_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    assert benchmark.main(['--presets', 'random', 'efficientnet_lite0', '--width', '96',
                           '--height', '64', '--repeats', '1', '--warmup', '0',
                           '--device', 'cpu', '--json', str(out)]) == 0
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    methods = [r['method'] for r in result['rows']]
    # runtime auto: the Lite preset runs on ONNX Runtime on a CPU, and the name says so
    assert methods == ['elf-random', 'elf-efficientnet_lite0 (onnxruntime)', 'opencv-sift',
                       'opencv-orb']
    assert all(m in table for m in methods)
    for row in result['rows']:
        assert row['full_ms'] > 0 and row['over_sift'] > 0 and row['over_orb'] > 0
        assert (row['bare_ms'] is None) == row['method'].startswith('opencv')
    assert result['size'] == '96x64' and result['device'] == 'cpu'


def test_stage_profile_and_variants_of_one_preset(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    variant = 'random:subpixel=true,nms_mode=float,saliency_upsample=1.5'
    assert benchmark.main(['--presets', 'random', variant, '--width', '96', '--height', '64',
                           '--repeats', '1', '--warmup', '0', '--device', 'cpu', '--stages',
                           '--json', str(out)]) == 0
    table = capsys.readouterr().out
    rows = json.loads(out.read_text())['rows']
    plain, fine = rows[0]['stages'], rows[1]['stages']
    assert {'forward', 'gradient', 'blur', 'NMS', 'top-k', 'descriptors',
            'device-to-host'} <= set(plain)
    assert {'forward (descriptors)', 'upsample', 'forward (fine)', 'sub-pixel'} <= set(fine)
    assert 'sub-pixel' not in plain                          # the random preset: whole pixels
    assert '| everything else / network |' in table and f'elf-{variant}' in table


def test_bad_variants_are_refused_before_timing(capsys):
    import pytest

    for spec in ('nosuch', 'random:nosuch=1', 'random:nms_radius', 'random:nms_mode=fast'):
        with pytest.raises(SystemExit):
            benchmark.main(['--presets', spec, '--repeats', '1', '--device', 'cpu'])
        assert f'--presets {spec}' in capsys.readouterr().err


def test_variants_of_one_preset_with_list_values_are_timed_in_one_run(tmp_path):
    import pytest

    from elf_ros.core import ConfigError
    from elf_ros.core.benchmark import parse_variant

    # A comma starts a new field only before NAME=: list values keep theirs.
    assert parse_variant('efficientnet_lite1:description_layer=stage3,stage4,nms_radius=4') == (
        'efficientnet_lite1', {'description_layer': 'stage3,stage4', 'nms_radius': 4})
    assert parse_variant('random:orientation=centroid,rotations=4') == (
        'random', {'orientation': 'centroid', 'rotations': 4})
    with pytest.raises(ConfigError, match='rotations'):
        parse_variant('random:rotations=many')
    out = tmp_path / 'bench.json'
    assert benchmark.main(['--presets', 'random', 'random:orientation=centroid,rotations=4',
                           '--width', '96', '--height', '64', '--repeats', '1', '--warmup', '0',
                           '--device', 'cpu', '--json', str(out)]) == 0
    rows = json.loads(out.read_text())['rows']
    assert [r['method'] for r in rows] == ['elf-random', 'elf-random:orientation=centroid,'
                                           'rotations=4', 'opencv-sift', 'opencv-orb']
    assert all(r['full_ms'] > 0 for r in rows)
