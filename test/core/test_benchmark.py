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
    assert methods == ['elf-random', 'elf-efficientnet_lite0', 'opencv-sift', 'opencv-orb']
    assert all(m in table for m in methods)
    for row in result['rows']:
        assert row['full_ms'] > 0 and row['over_sift'] > 0 and row['over_orb'] > 0
        assert (row['bare_ms'] is None) == row['method'].startswith('opencv')
    assert result['size'] == '96x64' and result['device'] == 'cpu'
