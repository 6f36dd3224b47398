"""
Per-stage wall time of the detector's pipeline (``--stages`` of the benchmark).

The pipeline wraps each stage in ``clock('name')``; the default clock does nothing, so the
timed code is the code that runs every frame. A :class:`StageClock` synchronises the device
around each stage (on CUDA every stage then waits for its kernels: the sum is the eager,
unoverlapped cost, and CUDA graphs are bypassed while it runs).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
import statistics
import time
from typing import Any, Callable, ContextManager, Iterator, Protocol, Sequence

import numpy as np
import torch


class Clock(Protocol):
    def __call__(self, stage: str) -> ContextManager[Any]:
        ...


def no_clock(stage: str) -> ContextManager[Any]:
    """Time nothing (the pipeline's default)."""
    return nullcontext()


class StageClock:
    """Accumulate milliseconds per stage name, in the order stages first ran."""

    def __init__(self, device: torch.device | str = 'cpu') -> None:
        dev = torch.device(device)
        self._sync: Callable[[], None] = (
            (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None))
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000


NETWORK_STAGES = ('forward', 'gradient', 'forward (descriptors)', 'forward (fine)',
                  'gradient (fine)', 'front end')
"""
Stages that are the network itself; every other stage is post-processing or transfer.

'front end' is an engine's or compiled module's one call (runtime other than autograd): it also
holds normalisation, shifted copies and their average, which are separate stages with autograd.
"""


def profile_stages(detector: Any, images: Sequence[np.ndarray], repeats: int = 5,
                   warmup: int = 1) -> dict[str, float]:
    """
    Median ms per stage of ``detector.detect(images)`` over ``repeats`` runs (after warm-up).

    Also returns 'total' (the median of the per-run sums) so shares can be read off directly.
    """
    for _ in range(warmup):
        detector.detect(images, clock=StageClock(detector.device))
    runs = []
    for _ in range(repeats):
        clock = StageClock(detector.device)
        detector.detect(images, clock=clock)
        runs.append(clock.ms)
    names = list(dict.fromkeys(n for run in runs for n in run))
    out = {n: statistics.median(run.get(n, 0.0) for run in runs) for n in names}
    out['total'] = statistics.median(sum(run.values()) for run in runs)
    return out


def network_share(stages: dict[str, float]) -> tuple[float, float]:
    """(network ms, everything else ms) of a :func:`profile_stages` result."""
    net = sum(v for k, v in stages.items() if k in NETWORK_STAGES)
    rest = sum(v for k, v in stages.items() if k not in NETWORK_STAGES and k != 'total')
    return net, rest
