"""
End a launched node together with the `ros2 launch` that started it.

`ros2 launch` stopped by SIGTERM (systemd, docker stop, `kill`) exits at once without stopping
its processes ("using SIGTERM can result in orphaned processes", launch's own warning): elf_node
kept running, parent PID 1, still on the graph. The launch file passes its own PID in
ELF_ROS_PARENT_PID; a node started that way asks Linux for SIGTERM when its parent dies
(prctl PR_SET_PDEATHSIG), which run_node turns into the usual clean exit. Started any other
way (`ros2 run`, a shell, systemd directly), nothing changes.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Mapping

PARENT_ENV = 'ELF_ROS_PARENT_PID'
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def follow_parent(environ: Mapping[str, str] = os.environ) -> bool:
    """Get SIGTERM when the launching parent dies; True when armed (Linux, env var set)."""
    expected = environ.get(PARENT_ENV, '')
    if not expected.isdigit() or not sys.platform.startswith('linux'):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return False
    if os.getppid() != int(expected):  # the parent died before prctl: nobody will signal us
        os.kill(os.getpid(), signal.SIGTERM)
    return True
