"""Rates and latency percentiles for /diagnostics, cheap enough to update on every frame."""
from __future__ import annotations

from collections import deque
import threading
import time

import numpy as np


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0
        self.first = float('-inf')  # monotonic times of the first and newest events
        self.last = float('-inf')

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.count == 0:
                self.first = now
            self.count += 1
            self.last = now
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        """Hz over the window (0 with fewer than two events in it)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window:
            self._times.popleft()


class LatencyWindow:
    """The last `size` latencies (seconds); percentiles reported in milliseconds."""

    def __init__(self, size: int = 300) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def percentiles_ms(self, *qs: float) -> tuple[float, ...]:
        """Return the requested percentiles in ms; NaN while empty."""
        with self._lock:
            values = np.fromiter(self._values, dtype=np.float64)
        if values.size == 0:
            return tuple(float('nan') for _ in qs)
        return tuple(float(v) * 1e3 for v in np.percentile(values, qs))


class CameraStats:
    """What /diagnostics reports for one camera."""

    def __init__(self) -> None:
        self.input = RateMeter()
        self.output = RateMeter()
        self.detection = LatencyWindow()   # the detector call that served the frame
        self.end_to_end = LatencyWindow()  # message received -> outputs published
        self.rejected = 0                  # frames that could not be converted or detected
        self.last_rejected = float('-inf')  # monotonic time of the last rejection
        self.last_reason = ''
