"""
elf_node as its own process: params file, parameter descriptions, Ctrl-C, startup errors.

Also the installed executables (install/lib/elf_ros/...), as `ros2 run` and launch start them.
"""
import os
from pathlib import Path
import signal
import subprocess
import threading
import time

import pytest

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from rcl_interfaces.srv import DescribeParameters  # noqa: E402
import rclpy  # noqa: E402
from rclpy.context import Context  # noqa: E402
from ros_harness import frame, NodeProcess, Probe, REPO  # noqa: E402
import torch  # noqa: E402

from elf_ros.ros.messages import descriptors_from_msg  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def probe():
    context = Context()
    rclpy.init(context=context)
    probe = Probe(context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(probe.node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield probe
    executor.shutdown(timeout_sec=5)
    probe.node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(5)


def write_params(tmp_path, body: str):
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n' + ''.join(
        f'    {line}\n' for line in body.strip().splitlines()))
    return str(path)


def test_params_file_is_honoured_and_ctrl_c_stops_cleanly(tmp_path, probe):
    ns = f'/pf{os.getpid()}'
    params = write_params(tmp_path, """
preset: random
input_width: 160
input_height: 120
max_keypoints: 7
description_layer: pool4
image_topics: [cam/image]
cpu_threads: 1
""")
    node = NodeProcess('--params-file', params, '-r', f'__ns:={ns}')
    try:
        probe.listen(f'{ns}/cam/keypoints')
        probe.listen(f'{ns}/cam/descriptors')
        probe.handshake(f'{ns}/cam/image', f'{ns}/cam/keypoints')
        stamp = probe.send(f'{ns}/cam/image', frame(0, (320, 240)))
        kps = probe.wait_for(f'{ns}/cam/keypoints', stamp)
        desc = probe.wait_for(f'{ns}/cam/descriptors', stamp)
        assert len(kps.keypoints) == 7 and (kps.image_width, kps.image_height) == (320, 240)
        assert desc.layer == 'pool4' and descriptors_from_msg(desc).shape == (7, 512)

        # What `ros2 param describe` shows: help text and ranges from the core's field specs.
        client = probe.node.create_client(DescribeParameters, f'{ns}/elf_node/describe_parameters')
        names = ['nms_radius', 'threshold_blur_sigma', 'preset']
        answer = probe.call(client, DescribeParameters.Request(names=names))
        nms, sigma, preset = answer.descriptors
        assert 'suppression' in nms.description.lower()
        assert (nms.integer_range[0].from_value, nms.integer_range[0].to_value) == (0, 200)
        assert sigma.floating_point_range[0].to_value == 100.0
        assert not preset.read_only and 'efficientnet_lite0' in preset.additional_constraints

        # Ctrl-C while frames keep coming: exits within two seconds, status 0, no traceback.
        for i in range(3):
            probe.send(f'{ns}/cam/image', frame(i, (320, 240)))
        code, seconds, output = node.interrupt()
        assert '(1 CPU threads)' in output, output
        assert code == 0 and seconds < 2.0, (code, seconds, output)
        assert 'Traceback' not in output
    finally:
        node.kill()


@pytest.mark.parametrize('body, reason', [
    ('threshold_blur_kernel: 4', 'odd'),
    ('preset: resnet9000', 'preset'),
    ("image_topics: ['a/image', 'a/image_raw']", 'same namespace'),
    ('threshold_blur_sigma: 5', 'threshold_blur_sigma'),  # an int where a double belongs
    ('cpu_threads: -1', 'cpu_threads'),
])
def test_bad_configuration_is_a_clear_startup_error(tmp_path, body, reason):
    node = NodeProcess('--params-file', write_params(tmp_path, 'weights: random\n' + body))
    code, output = node.wait(timeout=60)
    assert code == 1 and 'cannot start' in output and reason in output, output
    assert 'Traceback' not in output


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_cuda_without_a_gpu_is_a_clear_startup_error():
    node = NodeProcess('-p', 'weights:=random', '-p', 'device:=cuda')
    code, output = node.wait(timeout=60)
    assert code == 1 and 'CUDA is not available' in output, output
    assert 'Traceback' not in output


def installed(name: str) -> list[str]:
    """Return the command `ros2 run elf_ros <name>` runs: <prefix>/lib/elf_ros/<name>."""
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    try:
        path = Path(get_package_prefix('elf_ros')) / 'lib' / 'elf_ros' / name
    except PackageNotFoundError:
        path = REPO / 'install' / 'elf_ros' / 'lib' / 'elf_ros' / name
    if not path.is_file():
        pytest.skip(f'{path} not installed (scripts/setup_env.sh builds it)')
    return [str(path)]


class Feeder:
    """A real camera: publishes frames to the node as fast as it takes them, in a thread."""

    def __init__(self, probe: Probe, topic: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(probe, topic), daemon=True)
        self._thread.start()

    def _run(self, probe: Probe, topic: str) -> None:
        i = 0
        while not self._stop.is_set():
            probe.send(topic, frame(i, (320, 240)))
            i += 1
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.mark.parametrize('gap_ms, second', [(5, signal.SIGINT), (20, signal.SIGINT),
                                            (50, signal.SIGINT), (20, signal.SIGTERM)])
def test_two_signals_while_detecting_exit_cleanly_within_two_seconds(probe, gap_ms, second):
    """Ctrl-C in a terminal, then ros2 launch forwarding another (or SIGTERM from systemd)."""
    ns = f'/sig{os.getpid()}_{gap_ms}_{int(second)}'
    node = NodeProcess('-p', 'preset:=random', '-p', 'input_width:=320', '-p', 'input_height:=240',
                       '-p', 'cpu_threads:=1', '-r', f'__ns:={ns}',
                       command=installed('elf_node'))
    feeder = None
    try:
        probe.listen(f'{ns}/keypoints')
        probe.handshake(f'{ns}/image', f'{ns}/keypoints', timeout=90)
        feeder = Feeder(probe, f'{ns}/image')
        answered = len(probe.received[f'{ns}/keypoints'])
        probe.wait(lambda: len(probe.received[f'{ns}/keypoints']) > answered, 30, 'detecting')
        start = time.monotonic()
        node.proc.send_signal(signal.SIGINT)
        time.sleep(gap_ms / 1000)
        node.proc.send_signal(second)
        out, err = node.proc.communicate(timeout=10)
        seconds = time.monotonic() - start
        output = out + err
        assert node.proc.returncode == 0, (node.proc.returncode, output)
        assert seconds < 2.0, (seconds, output)
        for bad in ('Traceback', 'terminate called', 'KeyboardInterrupt'):
            assert bad not in output, output
    finally:
        if feeder is not None:
            feeder.stop()
        node.kill()


@pytest.mark.parametrize('executable, args', [
    ('elf_node', ['--ros-args', '-p', 'weights:=/nonexistent.pth']),
    ('elf_lifecycle_node', ['--ros-args', '-p', 'threshold_blur_kernel:=4']),
    ('image_replay', ['/nonexistent/folder', '--wait-subscribers', '0']),
])
def test_installed_executables_report_failure_in_their_exit_status(executable, args):
    proc = subprocess.run([*installed(executable), *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr


def test_installed_node_starts_with_a_per_node_log_level(probe):
    """
    The installed entry point runs the same node; exit 0 on SIGTERM (as systemd stops it).

    `--log-level <ns>.elf_node:=debug` (what the launch file's log_level passes) turns on the
    node's per-frame lines without rcl's own debug output.
    """
    ns = f'/inst{os.getpid()}'
    node = NodeProcess('-p', 'preset:=random', '-p', 'input_width:=160', '-p',
                       'input_height:=120', '-r', f'__ns:={ns}',
                       '--log-level', f'{ns.strip("/")}.elf_node:=debug',
                       command=installed('elf_node'))
    try:
        probe.listen(f'{ns}/keypoints')
        probe.handshake(f'{ns}/image', f'{ns}/keypoints', timeout=90)
        node.proc.send_signal(signal.SIGTERM)
        code, output = node.wait(timeout=10)
        assert code == 0 and 'Traceback' not in output, output
        assert 'keypoints, detect_ms=' in output  # the node's debug lines
        assert '[rcl]' not in output and '[rclpy' not in output, output[:2000]
    finally:
        node.kill()
