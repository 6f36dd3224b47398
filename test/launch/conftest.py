"""Session fixture: the real ros2 CLI (installed from ../shared/ros2-cli once per run)."""
import subprocess

import pytest
from ros2_cli import environment, install, installed_files_differ, Ros2, ros2_cli_available


@pytest.fixture(scope='session')
def ros2(tmp_path_factory):
    """`ros2 launch/topic/param/...` in this venv's environment; the daemon stopped at the end."""
    pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
    dest, reason = ros2_cli_available()
    if reason:
        pytest.skip(reason)
    stale = installed_files_differ()
    if stale:
        pytest.fail(f'the installed elf_ros differs from this checkout ({", ".join(stale)}): '
                    'run scripts/setup_env.sh (ros2 launch runs the installed launch file)')
    if dest is not None:
        install(dest)
    cli = Ros2(environment(dest), tmp_path_factory.mktemp('launch_logs'))
    yield cli
    subprocess.run(['ros2', 'daemon', 'stop'], env=cli.env, capture_output=True, timeout=60)


@pytest.fixture
def processes():
    """Start background processes through this list; every one is killed after the test."""
    started = []
    yield started
    for process in started:
        process.kill()
