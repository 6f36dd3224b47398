"""`python -m elf_ros.ros.benchmark --set NAME=VALUE`: node and detector parameters, errors."""
import subprocess
import sys

import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from elf_ros.ros.benchmark import parse_args, parse_setting  # noqa: E402


def test_node_and_detector_settings_are_typed():
    assert parse_setting('cpu_threads=1') == ('cpu_threads', 1)
    assert parse_setting('nms_radius=4') == ('nms_radius', 4)
    assert parse_setting('threshold_blur_sigma=2') == ('threshold_blur_sigma', 2.0)
    assert parse_setting('publish_saliency=false') == ('publish_saliency', False)
    args = parse_args(['--set', 'cpu_threads=1', '--set', 'nms_radius=4'])
    assert args.set == ['cpu_threads=1', 'nms_radius=4']


@pytest.mark.parametrize('setting, message', [
    ('bogus=1', "unknown parameter 'bogus'; valid names: "),
    ('cpu_threads=one', 'cpu_threads: expected int'),
    ('half_precision=maybe', 'expected true or false'),
    ('nms_radius', 'expected NAME=VALUE'),
])
def test_bad_settings_are_a_clear_error(setting, message):
    proc = subprocess.run([sys.executable, '-m', 'elf_ros.ros.benchmark', '--set', setting],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    if 'unknown' in message:  # the list names node and detector parameters alike
        assert 'cpu_threads' in proc.stderr and 'nms_radius' in proc.stderr
