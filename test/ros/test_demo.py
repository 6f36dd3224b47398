"""The demo pipeline: image_replay -> elf_node -> recorder as separate processes over DDS."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ros


def test_demo_records_overlays_and_a_summary(tmp_path):
    params = tmp_path / 'fast.yaml'
    params.write_text('/**:\n  ros__parameters:\n    preset: random\n'
                      '    input_width: 160\n    input_height: 120\n')
    out = tmp_path / 'demo'
    run = subprocess.run(
        ['bash', str(REPO / 'scripts' / 'demo.sh'), '--params', str(params), '--duration', '3',
         '--out', str(out)], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_with_output'] >= 2
    assert summary['descriptors'] == {'backbone': 'vgg16', 'layer': 'pool3', 'dimension': 256}
    for frame in summary['frames']:
        assert frame['size'] == '640x480' and frame['latency_ms'] > 0
        assert (out / frame['overlay']).is_file()
    assert 'end-to-end latency' in (out / 'summary.md').read_text()


def test_recorder_fails_when_nothing_comes_back(tmp_path):
    run = subprocess.run(
        [sys.executable, '-m', 'elf_ros.ros.recorder', '--namespace', f'/nothing{os.getpid()}',
         '--out', str(tmp_path), '--timeout', '2'], cwd=REPO, capture_output=True, text=True,
        timeout=60)
    assert run.returncode == 1 and 'nothing came back' in run.stderr
