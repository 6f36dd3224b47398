"""Figures of a relative-pose run: error CDFs, inliers per frame, chained rotations."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from elf_ros.eval.motion.runner import (
    chained_rotation_angles,
    MAX_ERROR_DEG,
    MIN_INLIERS,
    Run,
    run_label,
)
from elf_ros.eval.sequences import Sequence


def write_plots(out: Path, seq: Sequence, runs: list[Run]) -> list[Path]:
    """Error CDFs (k=1 solid, largest k dashed), inliers per frame and chained rotations."""
    from matplotlib.figure import Figure

    paths = []
    fig = Figure(figsize=(10, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 2)
    gaps = sorted(runs[0].pairs)
    for idx, run in enumerate(runs):
        colour = f'C{idx}'
        for k, style in ((gaps[0], '-'), (gaps[-1], '--')):
            for ax, attr in zip(axes, ('rotation_error', 'translation_error'), strict=True):
                vals = np.sort(np.nan_to_num([getattr(p, attr) for p in run.pairs[k]], nan=180))
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), style, color=colour,
                        where='post', label=f'{run_label(run)} k={k}')
    for ax, name in zip(axes, ('rotation error (deg)', 'translation direction error (deg)'),
                        strict=True):
        ax.set_xscale('log')
        ax.set_xlim(0.01, 180)
        ax.set_xlabel(name)
        ax.set_ylabel('share of pairs')
        ax.axvline(MAX_ERROR_DEG, color='grey', lw=0.8)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(f'{seq.name}: error CDFs')
    paths.append(out / f'{seq.name}_error_cdf.png')
    fig.savefig(paths[-1])

    fig = Figure(figsize=(10, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 2)
    for idx, run in enumerate(runs):
        pairs = run.pairs[gaps[0]]
        axes[0].plot([p.i for p in pairs], [p.inliers for p in pairs], color=f'C{idx}',
                     label=run_label(run))
        est, gt = chained_rotation_angles(seq, pairs)
        axes[1].plot(est, color=f'C{idx}', label=run_label(run))
    axes[1].plot(gt, 'k--', label='ground truth')
    axes[0].axhline(MIN_INLIERS, color='grey', lw=0.8)
    axes[0].set_xlabel('frame i (pair i, i+1)')
    axes[0].set_ylabel('inliers')
    axes[0].set_yscale('log')
    axes[1].set_xlabel('frame')
    axes[1].set_ylabel('rotation from frame 0 (deg)')
    axes[1].set_title('chained relative rotations (k=1)', fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f'{seq.name}: inliers per frame and chained rotation')
    paths.append(out / f'{seq.name}_inliers_trajectory.png')
    fig.savefig(paths[-1])
    return paths
