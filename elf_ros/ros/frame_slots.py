"""
Newest-frame-only hand-over from subscription callbacks to the detection worker.

A camera faster than the detector must not build a queue (latency would grow without bound):
each camera has one slot, a new frame replaces a waiting one and the replaced frame is counted
as dropped. The worker takes every waiting frame at once, so several cameras can be batched.
"""
from __future__ import annotations

import threading
from typing import Any


class FrameSlots:
    """One slot per camera, guarded by a condition the worker waits on."""

    def __init__(self, cameras: list[str]) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[str, Any] = {}
        self._closed = False
        self.dropped = {camera: 0 for camera in cameras}

    def put(self, camera: str, frame: Any) -> bool:
        """Offer the newest frame of `camera`; True when it replaced (dropped) an older one."""
        with self._cond:
            replaced = camera in self._waiting
            if replaced:
                self.dropped[camera] += 1
            self._waiting[camera] = frame
            self._cond.notify()
        return replaced

    def take(self, timeout: float | None = None) -> dict[str, Any]:
        """Every waiting frame by camera, emptying the slots; {} on timeout or after close()."""
        with self._cond:
            self._cond.wait_for(lambda: self._waiting or self._closed, timeout)
            if self._closed:
                return {}
            frames, self._waiting = self._waiting, {}
            return frames

    def close(self) -> None:
        """Wake the worker for good; later take() calls return at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
