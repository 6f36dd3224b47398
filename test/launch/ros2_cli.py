"""
The real `ros2` CLI for the launch tests: installed from ../shared/ros2-cli beside the venv.

The ROS 2 wheels on PyPI have no `ros2` command and no launch libraries; ../shared/ros2-cli
holds their sources (pinned to Kilted and Jazzy) and an install.sh that builds them into a
prefix of their own, never into the venv. On a real ROS install `ros2` is already there and is
used as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
import fcntl
from importlib import metadata
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
SHARED_CLI = REPO.parent / 'shared' / 'ros2-cli'
SHARE = REPO / 'config'  # the package's config files (same content as its installed share)
LARGE_FRAMES_PROFILE = SHARE / 'fastdds_large_frames.xml'
DISTROS = {9: 'kilted', 7: 'jazzy'}  # rclpy major version -> ROS 2 distro


def venv_distro() -> str:
    """Return the ROS 2 distro of the running interpreter's rclpy wheels."""
    major = int(metadata.version('ros-rclpy').split('.')[0])
    return DISTROS[major]


def cli_prefix() -> Path:
    """Where the CLI goes: beside the venv (never inside the git tree), one per distro."""
    chosen = os.environ.get('ELF_ROS_ROS2_CLI')
    return Path(chosen) if chosen else Path(f'{sys.prefix}-ros2cli-{venv_distro()}')


def install(dest: Path) -> str:
    """Run install.sh into dest (idempotent: ~0.3 s when up to date); return its output."""
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}')
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(f'{dest}.lock', 'w') as lock:  # parallel test runs share the prefix
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = subprocess.run([str(SHARED_CLI / 'install.sh'), str(dest), venv_distro()],
                             env=env, capture_output=True, text=True, timeout=1200)
    if run.returncode != 0:
        raise RuntimeError(f'{SHARED_CLI}/install.sh {dest} failed:\n{run.stdout[-3000:]}'
                           f'\n{run.stderr[-3000:]}')
    return run.stdout


def environment(dest: Path | None) -> dict[str, str]:
    """Return this process's environment plus DEST/setup.sh, with the large-frame DDS profile."""
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}',
               FASTDDS_DEFAULT_PROFILES_FILE=str(LARGE_FRAMES_PROFILE),
               PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0')
    if dest is None:
        return env
    dump = subprocess.run(['bash', '-c', f'source "{dest}/setup.sh" >/dev/null && env -0'],
                          env=env, capture_output=True, check=True, timeout=60)
    return dict(item.split('=', 1) for item in dump.stdout.decode().split('\0') if '=' in item)


def wait_until(check: Callable[[], object], timeout: float, what: str, period: float = 0.5):
    """Return check()'s first truthy value; AssertionError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(period)


def session_processes(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of a session: pid -> command line."""
    found = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == sid and state != 'Z':
            found[int(entry.name)] = cmdline
    return found


@dataclass
class Ros2:
    """Runs `ros2 ...` commands and background processes in the CLI's environment."""

    env: dict[str, str]
    logs: Path

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(['ros2', *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def out(self, *args: str, timeout: float = 60) -> str:
        """Stdout of a command that must succeed."""
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, f'ros2 {" ".join(args)}: {done.stdout}{done.stderr}'
        return done.stdout

    def nodes(self) -> list[str]:
        done = self.run('node', 'list')
        return done.stdout.split() if done.returncode == 0 else []

    def wait_nodes(self, names: set[str], timeout: float = 120) -> None:
        wait_until(lambda: names <= set(self.nodes()), timeout, f'nodes {sorted(names)}')

    def echo_once(self, topic: str, msg_type: str, timeout: float = 120) -> str:
        """One message of `topic` as `ros2 topic echo --once` prints it (arrays left out)."""
        done = self.run('topic', 'echo', '--once', '--no-arr', topic, msg_type, timeout=timeout)
        assert done.returncode == 0 and done.stdout.strip(), \
            f'no message on {topic}: {done.stdout[-2000:]}{done.stderr[-2000:]}'
        return done.stdout

    def start(self, name: str, *args: str) -> 'Process':
        """`ros2 <args>` in a session of its own, output (stdout and stderr) to a log file."""
        return Process(name, ['ros2', *args], self.env, self.logs / f'{name}.log')

    def launch(self, name: str, *arguments: str) -> 'Process':
        return self.start(name, 'launch', 'elf_ros', 'elf.launch.py', *arguments)

    def replay(self, topic: str, rate: float = 4.0) -> 'Process':
        """Loop the shipped TUM frames (640x480) on `topic`, as a camera driver would."""
        return self.start(f'replay_{topic.replace("/", "_")}', 'run', 'elf_ros', 'image_replay',
                          '--topic', topic, '--rate', str(rate), '--duration', '600')


def as_from_a_terminal() -> None:
    """
    Give the child Ctrl-C's default meaning, whatever the test run inherited.

    A test run started in the background by a non-interactive shell (a CI script's `cmd &`)
    ignores SIGINT and SIGQUIT, and an ignored signal stays ignored across exec: ros2 launch
    would then never hear the operator's Ctrl-C these tests send. A terminal's processes have
    the default disposition; so do these.
    """
    for signum in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


class Process:
    """A background process and everything it starts (one session: the terminal's view)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path):
        self.name, self.log = name, log
        self._file = open(log, 'w')
        self.popen = subprocess.Popen(cmd, env=env, stdout=self._file, stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=as_from_a_terminal)
        self.sid = self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors='replace')

    def wait_output(self, pattern: str, timeout: float = 120) -> re.Match:
        """Wait for a regex in the output; fail early (with the output) if the process ends."""
        def seen():
            match = re.search(pattern, self.output(), re.MULTILINE)
            if not match and self.popen.poll() is not None:
                raise AssertionError(f'{self.name} exited ({self.popen.returncode}) before '
                                     f'printing {pattern!r}:\n{self.output()[-4000:]}')
            return match
        return wait_until(seen, timeout, f'{pattern!r} in the output of {self.name}')

    def processes(self) -> dict[int, str]:
        return session_processes(self.sid)

    def interrupt(self, terminal: bool = False, times: int = 1) -> None:
        """SIGINT to ros2 launch alone (kill -INT), or to its whole group (Ctrl-C)."""
        for _ in range(times):
            if terminal:
                os.killpg(self.sid, signal.SIGINT)
            else:
                self.popen.send_signal(signal.SIGINT)
            time.sleep(0.2)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'{self.name} still running {timeout:.0f} s after being asked '
                                 f'to stop:\n{self.output()[-4000:]}') from None

    def leftovers(self, grace: float = 3.0) -> dict[int, str]:
        """Return the processes of the session still alive `grace` s after the main one ended."""
        deadline = time.monotonic() + grace
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.processes()

    def kill(self) -> None:
        """Make sure nothing of this session survives the test."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        self._file.close()


def ros2_cli_available() -> tuple[Path | None, str]:
    """(prefix to install into, '') or (None, '') on a real ROS install, or (None, reason)."""
    if shutil.which('ros2') and _importable('launch_ros'):
        return None, ''
    if not (SHARED_CLI / 'install.sh').is_file():
        return None, (f'no ros2 CLI: neither a ROS 2 install nor {SHARED_CLI} (its install.sh '
                      'builds ros2 launch/topic/param for the pip venv)')
    return cli_prefix(), ''


def installed_files_differ() -> list[str]:
    """Launch and config files whose installed copy (the package's share) is not the source's."""
    from ament_index_python.packages import get_package_share_directory
    share = Path(get_package_share_directory('elf_ros'))
    sources = [*(REPO / 'launch').glob('*.py'), *(REPO / 'config').iterdir()]
    return [str(p.relative_to(REPO)) for p in sources
            if not (share / p.relative_to(REPO)).is_file()
            or (share / p.relative_to(REPO)).read_bytes() != p.read_bytes()]


def _importable(module: str) -> bool:
    from importlib.util import find_spec
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False
