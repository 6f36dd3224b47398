"""
Per-camera DiagnosticStatus with diagnostic_updater-style levels.

(Implemented here: diagnostic_updater is not on PyPI.)

STALE before the first image; WARN when images stop for `input_timeout` s (a camera that
stopped must not read 'OK' at 0 Hz), while frames are being rejected (and for `rejection_hold`
s after the last one, then `last_rejection` clears), and when images arrive but nothing has
been published for `input_timeout` s; OK otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from elf_ros.ros.stats import CameraStats


@dataclass(frozen=True)
class Thresholds:
    input_timeout: float
    rejection_hold: float


def level_and_message(stats: CameraStats, limits: Thresholds, now: float) -> tuple[int, str]:
    """Return the status level and message of one camera at time `now` (monotonic)."""
    if stats.input.count == 0:
        return DiagnosticStatus.STALE, 'no images received yet'
    silent = now - stats.input.last
    if silent > limits.input_timeout:
        return DiagnosticStatus.WARN, f'no images for {silent:.1f} s (camera stopped?)'
    if now - stats.last_rejected <= limits.rejection_hold:
        return DiagnosticStatus.WARN, f'rejecting frames: {stats.last_reason}'
    if now - max(stats.output.last, stats.input.first) > limits.input_timeout:
        return DiagnosticStatus.WARN, f'images arrive but no output for {limits.input_timeout} s'
    return DiagnosticStatus.OK, 'detecting'


def camera_status(name: str, stats: CameraStats, limits: Thresholds, hardware_id: str,
                  values: dict[str, object], now: float | None = None) -> DiagnosticStatus:
    """Build the status of one camera; `values` are extra key/values (drops, device, ...)."""
    now = time.monotonic() if now is None else now
    level, message = level_and_message(stats, limits, now)
    det50, det99 = stats.detection.percentiles_ms(50, 99)
    e2e50, e2e99 = stats.end_to_end.percentiles_ms(50, 99)
    rejecting = now - stats.last_rejected <= limits.rejection_hold
    silent = now - stats.input.last if stats.input.count else float('nan')
    table = {
        'input_rate_hz': f'{stats.input.rate(now):.2f}',
        'output_rate_hz': f'{stats.output.rate(now):.2f}',
        'seconds_since_last_image': f'{silent:.1f}',
        'frames_received': stats.input.count, 'frames_processed': stats.output.count,
        **values,
        'frames_rejected': stats.rejected,
        'detection_latency_p50_ms': f'{det50:.1f}',
        'detection_latency_p99_ms': f'{det99:.1f}',
        'end_to_end_latency_p50_ms': f'{e2e50:.1f}',
        'end_to_end_latency_p99_ms': f'{e2e99:.1f}',
        'last_rejection': stats.last_reason if rejecting else '',
    }
    status = DiagnosticStatus(name=name, hardware_id=hardware_id, level=level, message=message)
    status.values = [KeyValue(key=k, value=str(v)) for k, v in table.items()]
    return status
