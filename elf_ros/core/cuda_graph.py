"""
CUDA graphs of the whole device pipeline, one per input shape.

At batch 1 the GPU work of ELF-VGG takes about as long as Python takes to launch its few hundred
kernels one by one; replaying a captured graph launches them all at once. The pipeline is
captured from the uint8 input buffer to the packed results, so a call is: copy the frames in,
replay, copy the results out.
"""
from __future__ import annotations

import threading
from typing import Callable

import torch

Pipeline = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]

# CUDA work on another thread during a capture invalidates it (measured on an H100: a detector
# built while the worker captured failed both). Captures and detector construction take this
# lock; eager detection never captures, so it keeps running beside a construction.
CUDA_CAPTURE_LOCK = threading.RLock()


class CapturedPipeline:
    """One captured graph: a static input buffer and the static outputs it writes."""

    def __init__(self, fn: Pipeline, example: torch.Tensor, device: torch.device,
                 warmup: int = 3) -> None:
        with CUDA_CAPTURE_LOCK, torch.cuda.device(device):  # the detector's GPU, not current
            self._capture(fn, example, device, warmup)

    def _capture(self, fn: Pipeline, example: torch.Tensor, device: torch.device,
                 warmup: int) -> None:
        self.input = torch.empty(example.shape, dtype=example.dtype, device=device)
        self.input.copy_(example)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):           # lets cuDNN pick its algorithms before capture
                fn(self.input)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = fn(self.input)
        # Pinned host buffers: asynchronous, full-speed copies in and out.
        self.host_input = torch.empty(example.shape, dtype=example.dtype, pin_memory=True)
        self.host_first = torch.empty(self.outputs[0].shape, dtype=self.outputs[0].dtype,
                                      pin_memory=True)

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """
        Run on new data of the captured shape.

        Returns the first output copied to (pinned) host memory, then the other outputs on the
        device; all are valid until the next call.
        """
        with torch.cuda.device(self.input.device):
            self.host_input.copy_(batch)
            self.input.copy_(self.host_input, non_blocking=True)
            self.graph.replay()
            self.host_first.copy_(self.outputs[0], non_blocking=True)
            torch.cuda.current_stream().synchronize()
        return (self.host_first, *self.outputs[1:])


class GraphCache:
    """Captured pipelines keyed by input shape; cleared when the pipeline's parameters change."""

    def __init__(self, device: torch.device, max_entries: int = 8) -> None:
        self.device = device
        self.max_entries = max_entries
        self._entries: dict[tuple, CapturedPipeline] = {}

    def run(self, key: tuple, fn: Pipeline, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Replay the graph for ``key``, capturing it first (with ``batch``) when new."""
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            entry = self._entries[key] = CapturedPipeline(fn, batch, self.device)
        return entry(batch)

    def clear(self) -> None:
        self._entries.clear()
