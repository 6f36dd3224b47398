"""A second run of the set-up with nothing changed does no work."""
from pathlib import Path
import subprocess
import sys

import pytest


def test_second_setup_run_skips_install_and_build(repo_root):
    venv = subprocess.run([str(repo_root / 'scripts' / 'venv_path.sh')], capture_output=True,
                          text=True, check=True).stdout.strip()
    if Path(sys.prefix).resolve() != Path(venv).resolve():
        pytest.skip('not in the venv made by scripts/setup_env.sh (e.g. a real ROS install)')
    first = subprocess.run([str(repo_root / 'scripts' / 'setup_env.sh')], capture_output=True,
                           text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    second = subprocess.run([str(repo_root / 'scripts' / 'setup_env.sh')], capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert '[setup] dependencies up to date' in second.stdout
    assert '[setup] colcon build up to date' in second.stdout
