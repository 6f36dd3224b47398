"""
Detector rebuilds off the parameter service's thread, coalesced.

`ros2 param load` and a multi-parameter `ros2 param set` arrive as one call per parameter;
each accepted change only calls `request()`, and the builder thread runs `build` once the
requests have been quiet for `settle` seconds: one rebuild per batch, and the service answers
at once. A request arriving during a build makes the builder run once more afterwards.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class CoalescingBuilder:
    """One background thread running `build()` after each quiet burst of `request()` calls."""

    def __init__(self, build: Callable[[], None], settle: float = 0.15,
                 name: str = 'elf_builder') -> None:
        self._build = build
        self._settle = settle
        self._cond = threading.Condition()
        self._requested = 0     # generation of the newest request
        self._served = 0        # generation the last build started from
        self._last_request = 0.0
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        with self._cond:
            self._requested += 1
            self._last_request = time.monotonic()
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until every request so far has been built (tests, lifecycle); False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or (not self._busy and self._served == self._requested),
                timeout)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._served != self._requested

    def close(self, timeout: float = 0.0) -> bool:
        """Stop taking requests; True when no build is running (after up to `timeout` s)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._requested != self._served)
                while not self._closed:
                    quiet = time.monotonic() - self._last_request
                    if quiet >= self._settle:
                        break
                    self._cond.wait(self._settle - quiet)
                if self._closed:
                    return
                self._served = self._requested
                self._busy = True
            try:
                self._build()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
