"""A node started by elf.launch.py ends when that launch process dies, even by SIGTERM/SIGKILL."""
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

REPO = Path(__file__).resolve().parents[2]
CHILD = ('import time\n'
         'from elf_ros.ros.parent_watch import follow_parent\n'
         'print("armed" if follow_parent() else "plain", flush=True)\n'
         'time.sleep(60)\n')
# The stand-in for `ros2 launch`: starts the child (as the launch file does, with or without
# ELF_ROS_PARENT_PID), prints its pid, then waits to be killed.
PARENT = ('import os, subprocess, sys, time\n'
          'env = dict(os.environ)\n'
          'if sys.argv[1] == "follow":\n'
          '    env["ELF_ROS_PARENT_PID"] = str(os.getpid())\n'
          'child = subprocess.Popen([sys.executable, "-c", sys.argv[2]], env=env)\n'
          'print(child.pid, flush=True)\n'
          'time.sleep(60)\n')


def alive(pid: int) -> bool:
    """Tell whether pid runs and is no zombie (this container's init may never reap orphans)."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat[stat.rindex(')') + 2] != 'Z'


def start_and_kill_parent(mode: str) -> tuple[int, str]:
    parent = subprocess.Popen([sys.executable, '-c', PARENT, mode, CHILD], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(parent.stdout.readline())
    state = parent.stdout.readline().strip()  # the child's line (same stdout)
    parent.send_signal(signal.SIGKILL)   # harsher than launch's SIGTERM exit
    parent.wait(10)
    return child, state


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='prctl is Linux only')
def test_launched_child_ends_with_its_parent_and_a_plain_child_does_not():
    child, state = start_and_kill_parent('follow')
    assert state == 'armed'
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)

    # Control: the same child without the launch file's variable outlives its parent (what
    # `ros2 launch` stopped by SIGTERM did to elf_node).
    child, state = start_and_kill_parent('plain')
    try:
        assert state == 'plain'
        time.sleep(1.0)
        assert alive(child)
    finally:
        os.kill(child, signal.SIGKILL)
