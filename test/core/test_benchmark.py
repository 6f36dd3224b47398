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


def test_variants_command_times_each_variant_against_the_preset(tmp_path, capsys):
    import cv2
    import numpy as np
    import pytest

    from elf_ros.bench import variants
    from elf_ros.bench.variants import cli as variants_cli
    from elf_ros.core import ConfigError

    assert variants.parse_variant('rot=orientation=centroid,rotations=4') == (
        'rot', {'orientation': 'centroid', 'rotations': 4})
    with pytest.raises(ConfigError, match='rotations'):
        variants.parse_variant('bad=rotations=many')
    image = tmp_path / 'photo.png'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(image), cv2.resize(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8),
                                       (640, 480), interpolation=cv2.INTER_CUBIC))
    assert variants_cli.main(['--preset', 'random', '--image', str(image), '--repeats', '1',
                          '--variant', 'rot4=orientation=centroid,rotations=4']) == 0
    rows = [line.split('|')[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith('| ')]
    assert [r[0].strip() for r in rows] == ['variant', 'random', 'rot4', 'sift']
    assert rows[2][1].strip() == 'orientation=centroid, rotations=4'
    assert rows[1][3].strip() == '1.00x'            # the preset is the reference
    assert all(float(r[2]) > 0 for r in rows[1:])
