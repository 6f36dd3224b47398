"""
End-to-end benchmark of elf_node through DDS: latency, sustainable input rate, ROS overhead.

For each preset the detector is first timed alone in this process; then the real node runs as
its own process and frames go to it over Fast DDS (localhost): one at a time for latency
(publish -> KeypointArray received, p50/p99), then at fixed input rates to find the highest one
it keeps up with (every frame answered, latency flat). ROS overhead = end-to-end p50 minus the
detection time the node itself measured on the same frames (read from its `frame_timing`
topic); the node's own per-frame work (conversion, message building, serialisation) is also
timed alone at 500 keypoints x 256-D.

  python -m elf_ros.ros.benchmark [--presets random,efficientnet_lite0] [--json out/bench.json]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from elf_ros.core import (
    call_times,
    ConfigError,
    DEFAULT_PRESET,
    ElfDetector,
    FIELD_SPECS,
    load_preset,
    parse_field,
    parse_typed,
    set_cpu_threads,
)
from elf_ros.formats.images import image_from_rgb, to_detector_image
from elf_ros.msg import DescriptorArray, KeypointArray
from elf_ros.ros import messages
from elf_ros.ros.outputs import FRAME_TIMING, TIMING_KEYS
from elf_ros.ros.params import NODE_PARAMETERS
from elf_ros.ros.replay import default_source, read_frames
from elf_ros.ros.shutdown import DEFAULT_EXECUTOR

FASTDDS_PROFILE = Path(__file__).resolve().parents[2] / 'config' / 'fastdds_large_frames.xml'


def _ms(values, q: float) -> float:
    return round(float(np.percentile(np.asarray(values, float), q)) * 1e3, 1) if values else -1.0


@dataclass
class Probe:
    """Publishes stamped frames to the node and notes when each KeypointArray arrives."""

    namespace: str
    arrivals: dict[int, float] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    diagnostics: dict[str, str] = field(default_factory=dict)
    # Per frame stamp (ns), the node's own seconds: detector, in the node (callback ->
    # published), waiting in the slot (callback -> worker), publishing the outputs.
    node_times: dict[int, tuple[float, ...]] = field(default_factory=dict)

    def start(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('elf_bench', namespace=self.namespace, context=self.context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(KeypointArray, 'keypoints', self._on_keypoints, qos)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.node.create_subscription(DiagnosticArray, FRAME_TIMING, self._on_timing, qos)
        self.publisher = self.node.create_publisher(
            Image, 'image', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.cond = threading.Condition()
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_keypoints(self, msg: KeypointArray) -> None:
        now = time.time_ns()
        key = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with self.cond:
            self.arrivals[key] = now
            self.counts[key] = len(msg.keypoints)
            self.cond.notify_all()

    def _on_timing(self, msg: DiagnosticArray) -> None:
        key = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        values = {kv.key: float(kv.value) * 1e-3 for kv in msg.status[0].values}
        with self.cond:
            self.node_times[key] = tuple(values[k] for k in TIMING_KEYS)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(self.namespace + '/'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def send(self, msg: Image) -> int:
        """Stamp with the current time and publish; returns the stamp in ns."""
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 10**9)
        self.publisher.publish(msg)
        return now

    def wait(self, stamp: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: stamp in self.arrivals, timeout)

    def stop(self) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def time_detector(preset: str, overrides: dict, frames: list[np.ndarray], repeats: int) -> dict:
    """Detector alone, in this process: p50 seconds per frame and keypoints per frame."""
    detector = ElfDetector(load_preset(preset, **overrides))
    for frame in frames[:3]:  # warm-up (first calls pick kernels)
        detector.detect([frame])
    counts = []

    def detect_next() -> None:
        (result,) = detector.detect([frames[len(counts) % len(frames)]])
        counts.append(len(result))

    (times,) = call_times([detect_next], repeats)
    return {'p50_ms': _ms(times, 50), 'keypoints': float(np.mean(counts)),
            'descriptor_dim': detector.descriptor_dim, 'device': str(detector.device)}


def time_ros_work(frame: np.ndarray, keypoints: int = 500, dim: int = 256,
                  repeats: int = 50) -> dict:
    """Time the node's own per-frame work at `keypoints` x `dim`, without DDS or detector."""
    rng = np.random.default_rng(0)
    height, width = frame.shape[:2]
    xy = (rng.random((keypoints, 2)) * (width - 1, height - 1)).astype(np.float32)
    scores = np.sort(rng.random(keypoints).astype(np.float32))[::-1]
    desc = rng.standard_normal((keypoints, dim)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    src = image_from_rgb(Image(), frame, 'rgb8')

    def convert():
        to_detector_image(src)

    def build():
        kp = messages.keypoint_array(src.header, width, height, xy, scores)
        dm = messages.descriptor_array(src.header, desc, 'vgg16', 'pool3')
        return kp, dm

    kp_msg, desc_msg = build()

    def serialise():
        serialize_message(kp_msg)
        serialize_message(desc_msg)

    kp_bytes, desc_bytes = serialize_message(kp_msg), serialize_message(desc_msg)

    def deserialise():
        deserialize_message(kp_bytes, KeypointArray)
        deserialize_message(desc_bytes, DescriptorArray)

    out = {}
    for name, fn in (('convert_image', convert), ('build_messages', build),
                     ('serialise_outputs', serialise), ('deserialise_outputs', deserialise)):
        (times,) = call_times([fn], repeats, warmup=1)
        out[name + '_ms'] = _ms(times, 50)
    return out


class NodeUnderTest:
    """The real node as a child process, in its own namespace."""

    def __init__(self, namespace: str, preset: str, overrides: dict, log: Path) -> None:
        args = ['-p', f'preset:={preset}', '-r', f'__ns:={namespace}',
                '-p', 'diagnostics_period:=0.5']
        for key, value in overrides.items():
            args += ['-p', f'{key}:={value}']
        self.log = open(log, 'w')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'elf_ros.ros.node', '--ros-args', *args],
            stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def handshake(probe: Probe, msg: Image, timeout: float) -> None:
    """
    Send until the node answers, then let it finish what it holds: a clean start.

    A reader matches a moment after the writer sees it, so the first frames can be lost; and
    with a slow detector the answer may be for an earlier frame than the last one sent.
    """
    deadline = time.monotonic() + timeout
    last = None
    while not probe.arrivals:
        if time.monotonic() > deadline:
            raise RuntimeError(f'no answer from the node within {timeout:.0f} s')
        last = probe.send(msg)
        with probe.cond:
            probe.cond.wait_for(lambda: probe.arrivals, 2.0)
    # The newest frame sent is still in the node (or was superseded and answered already).
    probe.wait(last, max(0.0, deadline - time.monotonic()))


def measure_latency(probe: Probe, msgs: list[Image], count: int,
                    timeout: float) -> tuple[dict[int, float], int]:
    """
    Send frames one at a time, each after the previous answer: latency without queueing.

    Returns the latency by frame stamp and how many frames got no answer in `timeout` (lost).
    """
    latencies, lost = {}, 0
    for i in range(count):
        stamp = probe.send(msgs[i % len(msgs)])
        if probe.wait(stamp, timeout):
            latencies[stamp] = (probe.arrivals[stamp] - stamp) * 1e-9
        else:
            lost += 1
    return latencies, lost


def measure_rate(probe: Probe, msgs: list[Image], rate: float, seconds: float,
                 drain: float) -> dict:
    """Publish at `rate` for `seconds`: share of frames answered and latency percentiles."""
    stamps = []
    period = 1.0 / rate
    start = next_time = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(max(0.0, next_time - time.monotonic()))
        next_time += period
        stamps.append(probe.send(msgs[len(stamps) % len(msgs)]))
    time.sleep(drain)
    answered = [s for s in stamps if s in probe.arrivals]
    lat = [(probe.arrivals[s] - s) * 1e-9 for s in answered]
    half = len(lat) // 2
    return {'rate_hz': rate, 'sent': len(stamps), 'answered': len(answered),
            'p50_ms': _ms(lat, 50), 'p99_ms': _ms(lat, 99),
            # Backlog would show as latency growing over the run.
            'first_half_p50_ms': _ms(lat[:half], 50), 'second_half_p50_ms': _ms(lat[half:], 50)}


def bench_preset(preset: str, overrides: dict, frames: list[np.ndarray], args,
                 node_overrides: dict | None = None) -> dict:
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    print(f'\n== {preset} {overrides or ""} (load average before: {load})', flush=True)
    alone = time_detector(preset, overrides, frames, args.repeats)
    print(f'detector alone: p50 {alone["p50_ms"]} ms, {alone["keypoints"]:.0f} keypoints, '
          f'{alone["descriptor_dim"]}-D on {alone["device"]}', flush=True)
    namespace = f'/bench{os.getpid()}_{preset}'
    msgs = [image_from_rgb(Image(), f, 'rgb8') for f in frames]
    for m in msgs:
        m.header.frame_id = 'camera'
    node = NodeUnderTest(namespace, preset, {**overrides, **(node_overrides or {}),
                                             'input_reliability': args.input_qos},
                         args.out / f'node_{preset}.log')
    probe = Probe(namespace)
    probe.start()
    try:
        deadline = time.monotonic() + 120
        # Both directions discovered: our frames reach the node and its answers reach us.
        while (probe.publisher.get_subscription_count() == 0
               or probe.node.count_publishers(f'{namespace}/keypoints') == 0):
            if time.monotonic() > deadline or node.proc.poll() is not None:
                raise RuntimeError(f'node did not start; see {node.log.name}')
            time.sleep(0.05)
        frame_s = alone['p50_ms'] * 1e-3
        timeout = 5.0 + 5 * frame_s
        handshake(probe, msgs[0], 60 + timeout)
        measure_latency(probe, msgs, 2, timeout)  # warm-up
        latency, lost = measure_latency(probe, msgs, args.repeats, timeout)
        if not latency:
            raise RuntimeError(f'all {lost} frames lost; see {node.log.name}')
        time.sleep(0.5)  # let the last frame_timing messages arrive
        with probe.cond:
            node_times = dict(probe.node_times)
        detect = {s: t[:2] for s, t in node_times.items()}
        paired = [(lat, *detect[s]) for s, lat in latency.items() if s in detect]
        split = [node_times[s][2:] for s in latency if s in node_times]
        overhead = [lat - det for lat, det, _ in paired]
        e2e = {'p50_ms': _ms(list(latency.values()), 50),
               'p99_ms': _ms(list(latency.values()), 99),
               'node_detection_p50_ms': _ms([det for _, det, _ in paired], 50),
               # overhead = in the node around the detector + DDS both ways (and callbacks)
               'in_node_p50_ms': _ms([node - det for _, det, node in paired], 50),
               'dds_p50_ms': _ms([lat - node for lat, _, node in paired], 50),
               # of the in-node part: callback -> worker hand-off, publishing the outputs
               'waited_p50_ms': _ms([w for w, _ in split], 50),
               'publish_p50_ms': _ms([p for _, p in split], 50),
               'overhead_p50_ms': _ms(overhead, 50), 'overhead_p99_ms': _ms(overhead, 99),
               'lost': lost}
        print(f'end to end: p50 {e2e["p50_ms"]} ms, p99 {e2e["p99_ms"]} ms; same frames in the '
              f'detector {e2e["node_detection_p50_ms"]} ms -> ROS overhead p50 '
              f'{e2e["overhead_p50_ms"]} ms, p99 {e2e["overhead_p99_ms"]} ms (in the node '
              f'{e2e["in_node_p50_ms"]} ms, DDS + callbacks {e2e["dds_p50_ms"]} ms; in the node: '
              f'slot -> worker {e2e["waited_p50_ms"]} ms, publishing {e2e["publish_p50_ms"]} ms)',
              flush=True)
        # Rates relative to what the node's detector needed on these frames.
        frame_s = max(e2e['node_detection_p50_ms'], 1.0) * 1e-3
        sweep = []
        for factor in args.rate_factors:
            rate = round(factor / frame_s, 2)
            row = measure_rate(probe, msgs, rate, max(args.sweep_seconds, 6 * frame_s),
                               drain=max(2.0, 3 * frame_s))
            sweep.append(row)
            print(f'input {rate} Hz: answered {row["answered"]}/{row["sent"]}, p50 '
                  f'{row["p50_ms"]} ms (first half {row["first_half_p50_ms"]}, second half '
                  f'{row["second_half_p50_ms"]}), p99 {row["p99_ms"]} ms', flush=True)
        kept_up = [r['rate_hz'] for r in sweep if r['answered'] >= 0.95 * r['sent']]
        return {'preset': preset, 'overrides': overrides, 'detector_alone': alone,
                'end_to_end': e2e, 'rate_sweep': sweep,
                'max_sustained_rate_hz': max(kept_up, default=0.0),
                'keypoints_per_frame': float(np.mean(list(probe.counts.values()))),
                'frames_timed': args.repeats}
    finally:
        probe.stop()
        node.stop()


def transport_check(frames: list[np.ndarray], out: Path, count: int = 15) -> dict:
    """
    Share of frames lost between processes per input QoS (fast detector, so none superseded).

    Frames go one at a time, each after the previous answer or a 3 s timeout.
    """
    result = {}
    msgs = [image_from_rgb(Image(), f, 'rgb8') for f in frames]
    for qos in ('best_effort', 'reliable'):
        namespace = f'/bench{os.getpid()}_qos_{qos}'
        node = NodeUnderTest(namespace, 'random', {'input_width': 160, 'input_height': 120,
                                                   'input_reliability': qos, 'device': 'cpu'},
                             out / f'node_qos_{qos}.log')
        probe = Probe(namespace)
        probe.start()
        try:
            while (probe.publisher.get_subscription_count() == 0
                   or probe.node.count_publishers(f'{namespace}/keypoints') == 0):
                if node.proc.poll() is not None:
                    raise RuntimeError(f'node did not start; see {node.log.name}')
                time.sleep(0.05)
            time.sleep(1.0)  # let discovery settle on both sides
            _, lost = measure_latency(probe, msgs, count, 3.0)
            result[qos] = {'sent': count, 'lost': lost}
            print(f'transport check, {frames[0].shape[1]}x{frames[0].shape[0]} rgb8, input '
                  f'{qos}: {lost}/{count} frames lost', flush=True)
        finally:
            probe.stop()
            node.stop()
    return result


def default_presets() -> list[str]:
    """Return the offline default preset and the cheaper Lite0 (VGG presets: --presets vgg16)."""
    return [DEFAULT_PRESET, 'efficientnet_lite0']


def print_table(results: list[dict], ros_work: dict) -> None:
    print('\n| preset | size | keypoints x D | detector p50 (same frames, timed in the node) | '
          'end-to-end p50 / p99 | ROS overhead p50 / p99 | of which in node / DDS (p50) | '
          'max sustained input | lost |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in results:
        a, e = r['detector_alone'], r['end_to_end']
        print(f"| {r['preset']} | {r['size']} | {r['keypoints_per_frame']:.0f} x "
              f"{a['descriptor_dim']} | {e['node_detection_p50_ms']} ms | {e['p50_ms']} / "
              f"{e['p99_ms']} ms | {e['overhead_p50_ms']} / {e['overhead_p99_ms']} ms | "
              f"{e['in_node_p50_ms']} / {e['dds_p50_ms']} ms | {r['max_sustained_rate_hz']} Hz | "
              f"{e['lost']}/{r['frames_timed']} |")
    print('\nrate sweeps (input rate: answered/sent, latency p50 first half -> second half):')
    for r in results:
        print(f"  {r['preset']}: " + '; '.join(
            f"{row['rate_hz']} Hz: {row['answered']}/{row['sent']}, {row['first_half_p50_ms']}"
            f" -> {row['second_half_p50_ms']} ms" for row in r['rate_sweep']))
    print('\nnode per-frame work alone, 640x480 rgb8 in, 500 keypoints x 256-D out (p50): ' +
          ', '.join(f'{k[:-3]} {v} ms' for k, v in ros_work.items()))


NODE_SETTINGS = {p.name: type(p.default) for p in NODE_PARAMETERS}


def parse_setting(item: str) -> tuple[str, object]:
    """
    NAME=VALUE of a node or detector parameter, typed by the core's parser.

    ConfigError (a ValueError) naming the parameter and its accepted values; an unknown name
    lists the valid ones.
    """
    key, sep, value = item.partition('=')
    key = key.strip()
    if key not in NODE_SETTINGS and key not in FIELD_SPECS:
        raise ConfigError(f'unknown parameter {key!r}; valid names: '
                          + ', '.join(sorted({*NODE_SETTINGS, *FIELD_SPECS})))
    if not sep:
        raise ConfigError('expected NAME=VALUE')
    if key in FIELD_SPECS:
        return key, parse_field(key, value)
    if NODE_SETTINGS[key] is list:
        raise ConfigError(f'{key} is a list; not settable here')
    return key, parse_typed(key, value, NODE_SETTINGS[key])


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--presets', default='',
                        help=f'comma-separated presets (default: {DEFAULT_PRESET}, '
                             'efficientnet_lite0)')
    parser.add_argument('--size', default='640x480', help='input image size WxH')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda | cuda:N')
    parser.add_argument('--repeats', type=int, default=10, help='frames timed per measurement')
    parser.add_argument('--sweep-seconds', type=float, default=8.0,
                        help='seconds per input rate of the sweep (at least 6 frames)')
    parser.add_argument('--rate-factors', default='0.5,0.8,1.2,2.0',
                        help='input rates to try, as multiples of 1/detector time')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override a node or detector parameter, e.g. --set nms_radius=4 '
                             '--set cpu_threads=1')
    parser.add_argument('--executor', choices=('single', 'multi'), default='',
                        help="the node's executor (ELF_NODE_EXECUTOR; default: the node's)")
    parser.add_argument('--out', type=Path, default=Path('out/bench'),
                        help='folder for node logs')
    parser.add_argument('--json', type=Path, help='write all numbers to this JSON file')
    parser.add_argument('--input-qos', default='reliable', choices=('reliable', 'best_effort'),
                        help="the node's input_reliability (default reliable: see docs/node.md,"
                             ' large best-effort frames are lost between processes here)')
    parser.add_argument('--no-shm-profile', dest='shm_profile', action='store_false',
                        help='do not use config/fastdds_large_frames.xml (Fast DDS defaults)')
    parser.add_argument('--no-transport-check', action='store_true',
                        help='skip the best-effort vs reliable loss check')
    args = parser.parse_args(argv)
    for item in args.set:
        try:
            parse_setting(item)
        except ValueError as err:
            parser.error(f'--set {item}: {err}')
    args.rate_factors = [float(f) for f in args.rate_factors.split(',') if f]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.shm_profile and 'FASTDDS_DEFAULT_PROFILES_FILE' not in os.environ:
        # Before any participant exists; the node processes inherit it.
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(FASTDDS_PROFILE)
    print('Fast DDS profile: ' + os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE', '(none)'))
    args.out.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.lower().split('x'))
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
              for f in read_frames(default_source())]
    overrides = {'device': args.device, 'input_width': width, 'input_height': height}
    node_overrides = {}
    for item in args.set:
        key, value = parse_setting(item)
        (node_overrides if key in NODE_SETTINGS else overrides)[key] = value
    if node_overrides.get('cpu_threads'):  # the detector alone gets the same threads
        set_cpu_threads(node_overrides['cpu_threads'])
    if args.executor:
        os.environ['ELF_NODE_EXECUTOR'] = args.executor  # inherited by the node process
    presets = [p for p in args.presets.split(',') if p] or default_presets()
    ros_work = time_ros_work(frames[0])
    transport = {} if args.no_transport_check else transport_check(frames, args.out)
    results = []
    for preset in presets:
        result = bench_preset(preset, overrides, frames, args, node_overrides)
        result['size'] = f'{width}x{height}'
        results.append(result)
    print_table(results, ros_work)
    print(f"executor: {os.environ.get('ELF_NODE_EXECUTOR', DEFAULT_EXECUTOR)}, node settings: "
          f'{node_overrides or "defaults"}')
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {'results': results, 'ros_work': ros_work, 'transport_check': transport,
             'input_qos': args.input_qos, 'node_settings': node_overrides,
             'executor': os.environ.get('ELF_NODE_EXECUTOR', DEFAULT_EXECUTOR)}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
