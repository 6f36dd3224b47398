"""
Record what elf_node publishes: overlay PNGs plus a summary of keypoints and latency per frame.

Latency is end to end: the time a KeypointArray arrives here minus its header stamp, which the
camera (or image_replay) set when it published the frame; both use this machine's clock. The
recorder stops by itself once outputs have stopped coming for a while (or on Ctrl-C) and exits
non-zero when nothing came back.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from elf_ros.formats.images import to_detector_image
from elf_ros.msg import DescriptorArray, KeypointArray
from elf_ros.ros.compat import WITH_MESSAGE_INFO


def _stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class Recorder(Node):
    """Subscribes to one camera's outputs and keeps per-frame records."""

    def __init__(self, namespace: str, out: Path) -> None:
        super().__init__('elf_recorder')
        self.out = out
        self.frames: dict[float, dict] = {}
        self.descriptor_info: dict[str, object] = {}
        self.diagnostics: dict[str, str] = {}
        self.last_output = 0.0
        prefix = namespace.rstrip('/') + '/' if namespace else ''
        self.prefix = prefix
        qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        if WITH_MESSAGE_INFO:
            self.create_subscription(KeypointArray, prefix + 'keypoints', self._on_keypoints, qos)
        else:  # Humble: no reception time, measure in the callback
            self.create_subscription(KeypointArray, prefix + 'keypoints',
                                     lambda m: self._on_keypoints(m, None), qos)
        self.create_subscription(DescriptorArray, prefix + 'descriptors', self._on_desc, qos)
        self.create_subscription(Image, prefix + 'debug_image',
                                 lambda m: self._save(m, 'overlay'), qos)
        self.create_subscription(Image, prefix + 'saliency',
                                 lambda m: self._save(m, 'saliency'), qos)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)

    def _record(self, header) -> dict:
        stamp = _stamp_s(header)
        return self.frames.setdefault(stamp, {'stamp': stamp})

    def _on_keypoints(self, msg: KeypointArray, info: dict | None) -> None:
        # DDS reception time, so time spent here writing PNGs does not count as latency.
        received = info.get('received_timestamp') if info else None
        now = (received or self.get_clock().now().nanoseconds) * 1e-9
        record = self._record(msg.header)
        record['keypoints'] = len(msg.keypoints)
        record['latency_ms'] = (now - record['stamp']) * 1e3
        record['size'] = f'{msg.image_width}x{msg.image_height}'
        self.last_output = time.monotonic()

    def _on_desc(self, msg: DescriptorArray) -> None:
        self._record(msg.header)['descriptors'] = int(msg.rows)
        self.descriptor_info = {'backbone': msg.backbone, 'layer': msg.layer,
                                'dimension': int(msg.cols)}

    def _save(self, msg: Image, kind: str) -> None:
        record = self._record(msg.header)
        name = f'{kind}_{record["stamp"]:.6f}.png'
        rgb = to_detector_image(msg)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
        cv2.imwrite(str(self.out / name), bgr)
        record[kind] = name

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            _, _, topic = status.name.partition(': ')
            if topic.startswith('/' + self.prefix.lstrip('/')) or not self.prefix:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def idle_limit(self, minimum: float) -> float:
        """Seconds of silence that mean the stream is over: 3x the slowest frame so far."""
        latencies = [r['latency_ms'] for r in self.frames.values() if 'latency_ms' in r]
        return max(minimum, 3e-3 * max(latencies, default=0.0))

    def summary(self) -> dict:
        done = sorted((r for r in self.frames.values() if 'keypoints' in r),
                      key=lambda r: r['stamp'])
        latencies = np.array([r['latency_ms'] for r in done], dtype=float)
        counts = np.array([r['keypoints'] for r in done], dtype=float)

        def pct(values, q):
            return round(float(np.percentile(values, q)), 1) if values.size else None
        return {
            'frames_with_output': len(done),
            'keypoints_mean': round(float(counts.mean()), 1) if counts.size else None,
            'latency_ms_p50': pct(latencies, 50),
            'latency_ms_p99': pct(latencies, 99),
            'descriptors': self.descriptor_info,
            'node_diagnostics': self.diagnostics,
            'frames': done,
        }


def format_summary(summary: dict) -> str:
    """Markdown report: the per-frame table and the totals."""
    lines = ['| frame stamp | size | keypoints | end-to-end latency (ms) | overlay |',
             '|---|---|---|---|---|']
    for r in summary['frames']:
        lines.append(f"| {r['stamp']:.3f} | {r.get('size', '')} | {r['keypoints']} | "
                     f"{r['latency_ms']:.0f} | {r.get('overlay', '')} |")
    diag = summary['node_diagnostics']
    desc = summary['descriptors']
    lines += [
        '',
        f"frames with output: {summary['frames_with_output']}"
        f" (node: received {diag.get('frames_received', '?')},"
        f" dropped as superseded {diag.get('frames_dropped', '?')}"
        f" of which {diag.get('frames_dropped_before_node', '?')} in DDS,"
        f" rejected {diag.get('frames_rejected', '?')})",
        f"keypoints per frame (mean): {summary['keypoints_mean']}",
        f"end-to-end latency: p50 {summary['latency_ms_p50']} ms, "
        f"p99 {summary['latency_ms_p99']} ms"
        f" (detector alone p50 {diag.get('detection_latency_p50_ms', '?')} ms)",
        f"descriptors: {desc.get('backbone', '?')} {desc.get('layer', '?')}, "
        f"{desc.get('dimension', '?')}-D; device: {diag.get('device', '?')}",
    ]
    return '\n'.join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--namespace', default='',
                        help="namespace of the camera's outputs (e.g. /demo)")
    parser.add_argument('--out', type=Path, default=Path('out/demo'), help='output folder')
    parser.add_argument('--idle-exit', type=float, default=5.0,
                        help='stop this many seconds (at least) after the last output')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='stop after this many seconds in any case')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args = parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob('*.png'):
        old.unlink()
    rclpy.init(args=argv)
    node = Recorder(args.namespace, args.out)
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            if node.last_output and (time.monotonic() - node.last_output
                                     > node.idle_limit(args.idle_exit)):
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    summary = node.summary()
    node.destroy_node()
    rclpy.try_shutdown()
    (args.out / 'summary.json').write_text(json.dumps(summary, indent=1))
    report = format_summary(summary)
    (args.out / 'summary.md').write_text(report + '\n')
    print(report)
    if not summary['frames_with_output']:
        print(f'nothing came back on {node.prefix}keypoints within {args.timeout:.0f} s',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
