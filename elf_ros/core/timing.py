"""
The one timing helper of the benchmarks: wall seconds per call, interleaved, after warm-up.

Several functions are timed interleaved (one call of each per round), so a burst of load from
other processes hits all of them alike and their ratios stay meaningful on a shared machine.
`sync` runs after each call so asynchronous GPU work counts (torch.cuda.synchronize).
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence


def no_sync() -> None:
    """CPU work is done when the call returns."""


def call_times(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int = 0,
               sync: Callable[[], None] = no_sync) -> list[list[float]]:
    """Seconds of each of `repeats` calls of each fn (one list per fn), after `warmup` rounds."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            sync()
            acc.append(time.perf_counter() - start)
    return times


def median_ms(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int = 0,
              sync: Callable[[], None] = no_sync) -> list[float]:
    """Median milliseconds per call of each fn (see call_times)."""
    return [1e3 * statistics.median(t) for t in call_times(fns, repeats, warmup, sync)]
