"""
Run methods over datasets and collect one record per (dataset, pair, method).

The reference image of a sequence is shared by its five pairs, so its features are computed
once per method. Methods that cannot run (missing weights, missing OpenCV contrib) are kept as a
status with the reason, so the tables can say why a row is empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import Callable, Iterable

import cv2
import numpy as np

from elf_ros.eval.datasets import Dataset, Pair
from elf_ros.eval.features import Features
from elf_ros.eval.groups import group_of
from elf_ros.eval.methods import build_method, Method, MethodUnavailableError
from elf_ros.eval.metrics import evaluate_pair, PairScores, PIXEL_THRESHOLD


@dataclass
class MethodStatus:
    name: str
    weights: str = ''
    note: str = ''
    method: Method | None = None

    @property
    def available(self) -> bool:
        return self.method is not None


@dataclass
class PairRecord:
    dataset: str
    sequence: str
    pair: str
    param: float | None
    method: str
    scores: PairScores
    seconds_per_image: float
    error: str = ''
    group: str = ''  # kind of change (groups.group_of) or the dataset's name


@dataclass
class Example:
    """The first pair of a dataset with every method's features, for the match drawings."""

    pair: Pair
    features: dict[str, tuple[Features, Features]] = field(default_factory=dict)


@dataclass
class Evaluation:
    methods: list[MethodStatus]
    datasets: dict[str, str | None] = field(default_factory=dict)  # name -> sweep parameter
    records: list[PairRecord] = field(default_factory=list)
    examples: dict[str, Example] = field(default_factory=dict)


def prepare_methods(specs: Iterable[str], max_keypoints: int = 500, device: str = 'auto',
                    weights: dict[str, str] | None = None,
                    elf_overrides: dict[str, object] | None = None) -> list[MethodStatus]:
    """
    Build every requested method once and run it on a small image.

    A method that cannot be built or crashes on that first image is kept with its reason, so
    the tables say why it has no numbers instead of the whole run failing.
    """
    statuses = []
    for spec in specs:
        try:
            method = build_method(spec, max_keypoints, device, weights, elf_overrides)
            warm_up(method)
        except MethodUnavailableError as exc:
            statuses.append(MethodStatus(spec, note=str(exc)))
            continue
        except (RuntimeError, ValueError, cv2.error) as exc:
            statuses.append(MethodStatus(spec, note=f'failed on a test image: {exc}'))
            continue
        statuses.append(MethodStatus(method.name, method.weights, method=method))
    return statuses


def warm_up(method: Method) -> None:
    """Run once on a small image so one-off start-up costs stay out of the timings."""
    rng = np.random.default_rng(0)
    method.extract([rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)])


def safe_extract(method: Method,
                 images: list[np.ndarray]) -> tuple[list[Features], float, str]:
    """
    Return features, seconds per image and an error message ('' when it worked).

    A method that raises counts as a failed detection (scored 0, as in the paper); the error is
    kept in the record so a crash is never mistaken for a weak detector.
    """
    start = time.perf_counter()
    error = ''
    try:
        feats = method.extract(images)
    except (RuntimeError, ValueError, MemoryError, cv2.error) as exc:
        feats = [Features.empty() for _ in images]
        error = f'{type(exc).__name__}: {exc}'
    return feats, (time.perf_counter() - start) / max(len(images), 1), error


def evaluate(datasets: list[Dataset], methods: list[MethodStatus],
             pixel_threshold: float = PIXEL_THRESHOLD,
             progress: Callable[[Iterable[Pair], int, str], Iterable[Pair]] | None = None
             ) -> Evaluation:
    """Score every available method on every pair of every dataset."""
    result = Evaluation(methods)
    runnable = [m for m in methods if m.method is not None]
    for dataset in datasets:
        result.datasets[dataset.name] = dataset.param_name
        cache: dict[str, tuple[str, Features]] = {}  # method -> (key1, features of image 1)
        pairs: Iterable[Pair] = iter(dataset)
        if progress is not None:
            pairs = progress(pairs, len(dataset), dataset.name)
        for pair in pairs:
            example = result.examples.setdefault(dataset.name, Example(pair))
            for status in runnable:
                cached = cache.get(status.name)
                if cached is not None and cached[0] == pair.key1:
                    (f2,), seconds, error = safe_extract(status.method, [pair.image2])
                    f1 = cached[1]
                else:
                    (f1, f2), seconds, error = safe_extract(status.method,
                                                            [pair.image1, pair.image2])
                    cache[status.name] = (pair.key1, f1)
                scores = evaluate_pair(f1, f2, pair.homography, pair.size1, pair.size2,
                                       pixel_threshold)
                group = group_of(pair.sequence) if dataset.by_change else dataset.name
                result.records.append(PairRecord(dataset.name, pair.sequence, pair.name,
                                                 pair.param, status.name, scores, seconds,
                                                 error, group))
                if example.pair is pair:
                    example.features[status.name] = (f1, f2)
    return result
