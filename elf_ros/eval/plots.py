"""PNG figures: per-sequence bars, rotation/scale curves and an image pair with its matches."""
from __future__ import annotations

from pathlib import Path

import cv2
from matplotlib.figure import Figure
import numpy as np
from PIL import Image

from elf_ros.eval.features import Features
from elf_ros.eval.metrics import mnn_correspondences
from elf_ros.eval.runner import Example

DPI = 80
METRICS = (('rep', 'repeatability %'), ('ms', 'matching score %'))
PER_SEQUENCE = (*METRICS, ('correct', 'correct matches / pair'))


def _legend_below(fig: Figure, ax: object) -> None:
    handles, labels = ax.get_legend_handles_labels()  # type: ignore[attr-defined]
    fig.legend(handles, labels, loc='outside lower center', ncol=min(4, len(labels)), fontsize=8)


def bars_per_sequence(per_sequence: dict[str, dict[str, dict[str, float]]], title: str,
                      path: Path) -> Path:
    """Plot grouped bars (one group per sequence, one bar per method): rep, MS, correct/pair."""
    methods = list(per_sequence)
    sequences = sorted({s for m in per_sequence.values() for s in m})
    fig = Figure(figsize=(max(8.0, 1.8 * len(sequences) + 5), 4.2), dpi=DPI,
                 layout='constrained')
    axes = fig.subplots(1, len(PER_SEQUENCE))
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(sequences))
    for ax, (key, label) in zip(axes, PER_SEQUENCE, strict=True):
        for i, method in enumerate(methods):
            vals = [per_sequence[method].get(s, {}).get(key, 0.0) for s in sequences]
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, label=method)
        ax.set_xticks(x, sequences, rotation=30 if len(sequences) > 4 else 0, ha='right'
                      if len(sequences) > 4 else 'center', fontsize=8)
        ax.set_ylabel(label)
        if key != 'correct':  # a count has no fixed scale
            ax.set_ylim(0, 100)
        ax.grid(axis='y', alpha=0.3)
    _legend_below(fig, axes[0])
    fig.suptitle(title)
    fig.savefig(path)
    return path


def sweep_curves(per_param: dict[str, dict[float, dict[str, float]]], param: str, title: str,
                 path: Path) -> Path:
    """Repeatability and MS against the sweep parameter, one line per method (paper fig. 7)."""
    fig = Figure(figsize=(9, 4.2), dpi=DPI, layout='constrained')
    axes = fig.subplots(1, 2)
    for ax, (key, label) in zip(axes, METRICS, strict=True):
        for method, by_value in per_param.items():
            values = sorted(by_value)
            ax.plot(values, [by_value[v][key] for v in values], marker='o', label=method)
        ax.set_xlabel(param)
        ax.set_ylabel(label)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    _legend_below(fig, axes[0])
    fig.suptitle(title)
    fig.savefig(path)
    return path


def _gray_bgr(img: np.ndarray, levels: int = 16) -> np.ndarray:
    """Gray, lightened and posterised: the lines stand out and the PNG stays small."""
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    step = 256 // levels
    gray = (128 + (gray // step) * step // 2).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def draw_matches(example: Example, methods: list[str], path: Path, width: int = 640) -> Path:
    """
    Draw the pair side by side once per method with its MNN matches.

    Green lines are matches within the pixel threshold of the ground truth, red ones are wrong;
    images are posterised gray and scaled to `width` so the PNG stays small.
    """
    pair = example.pair
    rows = []
    for method in methods:
        f1, f2 = example.features.get(method, (Features.empty(), Features.empty()))
        left, right = _gray_bgr(pair.image1), _gray_bgr(pair.image2)
        offset = left.shape[1]
        canvas = np.zeros((max(left.shape[0], right.shape[0]), offset + right.shape[1], 3),
                          np.uint8)
        canvas[:left.shape[0], :offset] = left
        canvas[:right.shape[0], offset:] = right
        matches, correct = mnn_correspondences(f1, f2, pair.homography)
        for (i, j), ok in zip(matches, correct, strict=True):
            p1 = tuple(int(round(v)) for v in f1.keypoints[i])
            p2 = (int(round(f2.keypoints[j][0])) + offset, int(round(f2.keypoints[j][1])))
            cv2.line(canvas, p1, p2, (0, 220, 0) if ok else (0, 0, 255), 1, cv2.LINE_AA)
        label = f'{method}: {int(correct.sum())}/{len(matches)} MNN matches correct'
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 48), (0, 0, 0), -1)
        cv2.putText(canvas, label, (10, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2,
                    cv2.LINE_AA)
        scale = width / canvas.shape[1]
        rows.append(cv2.resize(canvas, (width, int(round(canvas.shape[0] * scale))),
                               interpolation=cv2.INTER_NEAREST))
    if not rows:
        raise ValueError('no method to draw')
    rgb = cv2.cvtColor(np.vstack(rows), cv2.COLOR_BGR2RGB)
    # A 16-colour palette PNG: about 100 KB even for textured scenes.
    Image.fromarray(rgb).quantize(colors=16, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True)
    return path
