"""End to end: the command line on two small synthetic pairs writes the tables and plots."""
import json

import pytest

from elf_ros.eval.cli import main


def test_end_to_end_two_synthetic_pairs(tmp_path, capsys):
    out = tmp_path / 'run'
    code = main(['--dataset', 'synthetic:skimage', '--images', '2', '--pairs-per-image', '1',
                 '--size', '160x120', '--methods', 'sift,orb,elf-random,elf-nosuch',
                 '--elf-set', 'input_width=0', '--elf-set', 'input_height=0',
                 '--out', str(out), '--quiet'])
    assert code == 0
    table = (out / 'results.md').read_text()
    assert table in capsys.readouterr().out
    assert '### synthetic (2 pairs)' in table
    for method in ('| sift |', '| orb |', '| elf-random |', '| elf-nosuch | not run'):
        assert method in table
    data = json.loads((out / 'results.json').read_text())
    assert data['settings']['size'] == [160, 120]
    assert {p['method'] for p in data['pairs']} == {'sift', 'orb', 'elf-random'}
    assert len(data['pairs']) == 6
    for row in data['summary']['synthetic'].values():
        assert 0 <= row['rep'] <= 100 and 0 <= row['ms'] <= 100
    for name in ('synthetic_sequences.png', 'synthetic_matches.png'):
        assert (out / name).read_bytes()[:4] == b'\x89PNG'


def test_sweep_writes_curves(tmp_path):
    assert main(['--dataset', 'scale:skimage', '--images', '1', '--size', '160x120',
                 '--methods', 'orb', '--out', str(tmp_path), '--quiet']) == 0
    assert 'rep % / MS % by scale factor' in (tmp_path / 'results.md').read_text()
    assert (tmp_path / 'scale_sweep.png').is_file()
    per_value = json.loads((tmp_path / 'results.json').read_text())['per_sweep_value']
    assert sorted(per_value['scale']['orb']) == ['1.25', '1.5', '1.75', '2.0']


def test_bad_arguments_are_reported():
    with pytest.raises(SystemExit):
        main(['--dataset', 'webcam:/tmp', '--quiet'])
    with pytest.raises(SystemExit):
        main(['--dataset', 'synthetic:skimage', '--elf-set', 'no_such_field=1', '--quiet'])


class BrokenDetector:
    """A detector that crashes: its pairs must score 0 and say why, not abort the run."""

    name = 'broken'
    weights = 'none'

    def extract(self, images):
        raise RuntimeError('device lost')


def test_a_crashing_method_scores_zero_and_keeps_the_reason():
    from elf_ros.eval.datasets import skimage_photographs, synthetic_pairs
    from elf_ros.eval.report import summary_table
    from elf_ros.eval.runner import evaluate, MethodStatus

    data = synthetic_pairs(skimage_photographs(('camera',)), 2, size=(160, 120))
    result = evaluate([data], [MethodStatus('broken', 'none', method=BrokenDetector())])
    assert [r.error for r in result.records] == ['RuntimeError: device lost'] * 2
    row = summary_table(result)['synthetic']['broken']
    assert (row['rep'], row['ms'], row['failed']) == (0.0, 0.0, 2)


def test_evaluation_imports_no_ros_module():
    import subprocess
    import sys

    code = ('import sys, elf_ros.eval.cli, elf_ros.eval.__init__; '
            "print(sorted(m for m in sys.modules if m.startswith(('rclpy', 'rosidl', "
            "'sensor_msgs', 'std_msgs', 'elf_ros.ros', 'elf_ros.msg'))))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == '[]'
