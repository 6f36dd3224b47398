"""
Runtimes of the front end compared in one run: ms per frame, ratio to SIFT, agreement with eager.

For a preset, one detector per runtime (same config otherwise) is timed interleaved with OpenCV
SIFT on the benchmark frame ("full": ``detect()`` host to host; "front": the front end alone on a
pre-uploaded batch), and each runtime's detections on real photos are compared with the
'autograd' reference: the share of reference keypoints with a keypoint within 1 px, and the
cosine between the descriptors of those pairs. The command line is elf_ros.bench.runtimes_cli.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
import os
from pathlib import Path
import platform
import time
from typing import Any

import cv2
import numpy as np
import torch

from elf_ros.core.benchmark import opencv_fn
from elf_ros.core.detector import ElfDetector, ElfResult
from elf_ros.core.presets import load_preset
from elf_ros.core.timing import median_ms

KEYPOINT_TARGET = 0.99        # share of keypoints within 1 px of eager's
COSINE_TARGET = 0.999         # mean descriptor cosine of those pairs


def agreement(ref: Sequence[ElfResult], got: Sequence[ElfResult], radius: float = 1.0
              ) -> dict[str, float]:
    """Share of ``ref`` keypoints with a ``got`` keypoint within ``radius`` px; their cosines."""
    near, cosines, total = 0, [], 0
    for r, g in zip(ref, got, strict=True):
        total += len(r)
        if not len(r) or not len(g):
            continue
        dist = torch.cdist(torch.from_numpy(r.keypoints), torch.from_numpy(g.keypoints))
        best, index = dist.min(dim=1)
        hit = best <= radius
        near += int(hit.sum())
        pairs = np.einsum('nd,nd->n', r.descriptors[hit.numpy()],
                          g.descriptors[index[hit].numpy()])
        cosines.append(pairs)
    cos = np.concatenate(cosines) if cosines else np.zeros(0)
    return dict(within_1px=near / max(total, 1), keypoints=total,
                cosine_mean=float(cos.mean()) if len(cos) else 0.0,
                cosine_p01=float(np.percentile(cos, 1)) if len(cos) else 0.0)


def build_runtime(preset: str, runtime: str, overrides: Mapping[str, Any],
                  weights: str | None) -> tuple[ElfDetector | None, float, str]:
    """Build a detector for ``runtime``: (it or None, build seconds, why it failed)."""
    extra = dict(overrides, runtime=runtime, **({'weights': weights} if weights else {}))
    start = time.perf_counter()
    try:
        det = ElfDetector(load_preset(preset, **extra))
    except (RuntimeError, ValueError, TypeError) as exc:
        return None, 0.0, f'{type(exc).__name__}: {exc}'
    return det, time.perf_counter() - start, ''


def compare(preset: str, runtimes: Sequence[str], frame: np.ndarray,
            check_frames: Sequence[np.ndarray], overrides: Mapping[str, Any],
            weights: str | None, repeats: int, warmup: int) -> list[dict[str, Any]]:
    """One row per runtime (plus SIFT) for ``preset``; times interleaved, in one run."""
    built: dict[str, ElfDetector] = {}
    rows: dict[str, dict[str, Any]] = {}
    for runtime in runtimes:
        det, seconds, why = build_runtime(preset, runtime, overrides, weights)
        rows[runtime] = dict(method=f'elf-{preset}', runtime=runtime, build_s=seconds,
                             error=why)
        if det is not None:
            start = time.perf_counter()
            det.detect([frame])                  # compiles, for 'compile'
            rows[runtime]['first_call_s'] = time.perf_counter() - start
            built[runtime] = det
    fns: list[Any] = []
    for det in built.values():
        x = det._prepare(torch.from_numpy(frame[None]).to(det.device), frame.shape[:2])
        fns += [lambda d=det: d.detect([frame]), lambda d=det, x=x: d._front(x)]
    fns.append(opencv_fn('sift', [frame]))
    times = median_ms(fns, repeats, warmup)
    sift = times[-1]
    ref = built['autograd'].detect(list(check_frames)) if 'autograd' in built else None
    for i, (runtime, det) in enumerate(built.items()):
        row = rows[runtime]
        row.update(full_ms=times[2 * i], front_ms=times[2 * i + 1],
                   over_sift=times[2 * i] / sift, keypoints=len(det.detect([frame])[0]))
        if ref is not None:
            row.update(agreement(ref, det.detect(list(check_frames))))
            row['exact_enough'] = (row['within_1px'] >= KEYPOINT_TARGET
                                   and row['cosine_mean'] >= COSINE_TARGET)
    return [*rows.values(), dict(method='opencv-sift', runtime='-', full_ms=sift, over_sift=1.0)]


def environment() -> dict[str, Any]:
    """Describe what the numbers were measured on."""
    return dict(torch=torch.__version__, opencv=cv2.__version__,
                torch_threads=torch.get_num_threads(),
                cpu=platform.processor() or platform.machine(),
                load_average=[round(v, 2) for v in os.getloadavg()])


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`compare` rows."""
    lines = ['| method | runtime | full ms/frame | front ms | / SIFT | within 1 px | '
             'cosine mean | cosine p01 | exact enough | build s | first call s |',
             '|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|']

    def num(r: dict[str, Any], key: str, fmt: str) -> str:
        return format(r[key], fmt) if r.get(key) is not None else '-'
    for r in rows:
        if r.get('error'):
            lines.append(f"| {r['method']} | {r['runtime']} | not run: {r['error']} |"
                         + ' |' * 8)
            continue
        within = f"{100 * r['within_1px']:.1f} %" if 'within_1px' in r else '-'
        ok = {True: 'yes', False: 'no'}.get(r.get('exact_enough'), '-')
        lines.append(
            f"| {r['method']} | {r['runtime']} | {num(r, 'full_ms', '.1f')} "
            f"| {num(r, 'front_ms', '.1f')} | {num(r, 'over_sift', '.2f')} | {within} "
            f"| {num(r, 'cosine_mean', '.5f')} | {num(r, 'cosine_p01', '.4f')} | {ok} "
            f"| {num(r, 'build_s', '.1f')} | {num(r, 'first_call_s', '.1f')} |")
    return '\n'.join(lines)


def read_frames(paths: Sequence[str | Path], width: int, height: int) -> list[np.ndarray]:
    """RGB frames resized to the benchmark size (unreadable paths skipped)."""
    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None:
            out.append(cv2.cvtColor(cv2.resize(img, (width, height)), cv2.COLOR_BGR2RGB))
    return out
