"""The tracking benchmark's Markdown report, the issue's targets and the plots."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from elf_ros.eval.tracks.runner import Run, Settings

COLUMNS = (('tracks_per_frame', 'tracks/frame', '{:.0f}'), ('tracks', 'tracks', '{:d}'),
           ('median_length', 'len median', '{:.1f}'), ('p90_length', 'len p90', '{:.1f}'),
           ('share_ge5', 'share ≥5 frames', '{:.2f}'),
           ('median_length_per_obs', 'len median per point', '{:.1f}'),
           ('pairs', 'pairs', '{:d}'),
           ('sampson_median_px', 'Sampson median px', '{:.3f}'),
           ('sampson_share_gt1', 'share Sampson > 1 px', '{:.3f}'),
           ('reprojected', 'reproj. obs.', '{:d}'),
           ('reproj_median_px', 'reproj. median px', '{:.2f}'),
           ('reproj_p90_px', 'reproj. p90 px', '{:.2f}'))


def verdicts(runs: list[Run]) -> list[str]:
    """Check the issue's targets: ELF median track length >= KLT's, share > 1 px <= KLT's."""
    lines = []
    for seq in dict.fromkeys(r.sequence for r in runs):
        elf = next((r for r in runs if (r.sequence, r.method) == (seq, 'elf')), None)
        klt = next((r for r in runs if (r.sequence, r.method) == (seq, 'klt')), None)
        if elf is None or klt is None:
            continue
        e, k = elf.numbers, klt.numbers
        length_ok = e['median_length'] >= k['median_length']
        sampson_ok = e['sampson_share_gt1'] <= k['sampson_share_gt1']
        lines.append(
            f"{'MET' if length_ok else 'NOT MET'}: {seq}: median track length ELF "
            f"{e['median_length']:.1f} vs KLT {k['median_length']:.1f} frames")
        lines.append(
            f"{'MET' if sampson_ok else 'NOT MET'}: {seq}: share of tracked correspondences "
            f"above 1 px Sampson ELF {e['sampson_share_gt1']:.3f} vs KLT "
            f"{k['sampson_share_gt1']:.3f} ({e['pairs']} vs {k['pairs']} pairs)")
        # The median over tracks is dominated by one-frame tracks; say what a back end sees.
        lines.append(
            f"context (not a target): {seq}: track length per published point, median ELF "
            f"{e['median_length_per_obs']:.1f} vs KLT {k['median_length_per_obs']:.1f}; p90 "
            f"over tracks ELF {e['p90_length']:.1f} vs KLT {k['p90_length']:.1f}; share of "
            f"tracks >= 5 frames ELF {e['share_ge5']:.2f} vs KLT {k['share_ge5']:.2f}; "
            f"reprojection median ELF {e['reproj_median_px']:.2f} vs KLT "
            f"{k['reproj_median_px']:.2f} px")
    return lines


def markdown(runs: list[Run], lines: list[str], command: str, args: Settings) -> str:
    out = ['# Feature tracks: ELF track manager vs VINS-style KLT vs SIFT', '',
           f'Command: `{command}`', '',
           f'Budget: at most {args.max_cnt} living tracks (MAX_CNT), {args.min_dist:g} px '
           f'between tracked points (MIN_DIST), for every method. ELF and SIFT: up to '
           f'{args.max_keypoints} detections per frame, ELF preset `{args.preset}` at native '
           'resolution. Lengths in frames (tracks alive at the end counted as they stand); '
           '"len median per point": median over every published point of the final length of '
           'its track (what a back end sees); '
           'Sampson distance of every consecutive pair of a track under the true relative '
           'pose; reprojection error of every observation of tracks >= 3 frames after DLT '
           'triangulation with the true poses (undistorted pixels). Time per frame: detection '
           '(ELF, SIFT) and tracking, one thread.', '']
    for seq in dict.fromkeys(r.sequence for r in runs):
        mine = [r for r in runs if r.sequence == seq]
        out += [f'## {seq} ({mine[0].numbers["frames"]} frames)', '']
        head = ['method', 'detections/frame'] + [c[1] for c in COLUMNS] + ['detect ms',
                                                                            'track ms']
        out += ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
        for r in mine:
            cells = [r.method, '-' if np.isnan(r.detections) else f'{r.detections:.0f}']
            cells += [fmt.format(r.numbers[key]) for key, _, fmt in COLUMNS]
            cells += [f'{r.detect_ms:.0f}', f'{r.track_ms:.1f}']
            out.append('| ' + ' | '.join(cells) + ' |')
        out.append('')
    out += ["## Targets (ELF = `elf`, the tracker's defaults)", ''] + [f'- {v}' for v in lines]
    return '\n'.join(out) + '\n'


def write_plots(out: Path, seq: str, runs: list[Run]) -> Path:
    """Track-length histogram, Sampson-distance CDF and reprojection-error CDF per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6), dpi=80, layout='constrained')
    axes = fig.subplots(1, 3)
    top = max(int(r.raw['lengths'].max()) if len(r.raw['lengths']) else 1 for r in runs)
    bins = np.arange(1, top + 2) - 0.5
    for idx, r in enumerate(runs):
        colour = f'C{idx}'
        axes[0].hist(r.raw['lengths'], bins=bins, histtype='step', color=colour,
                     label=r.method)
        for ax, key in ((axes[1], 'sampson'), (axes[2], 'reprojection')):
            vals = np.sort(r.raw[key])
            if len(vals):
                ax.step(vals, np.arange(1, len(vals) + 1) / len(vals), color=colour,
                        where='post', label=r.method)
    axes[0].set_xlabel('track length (frames)')
    axes[0].set_ylabel('tracks')
    axes[0].set_yscale('log')
    for ax, name in ((axes[1], 'Sampson distance (px)'), (axes[2], 'reprojection error (px)')):
        ax.set_xscale('log')
        ax.set_xlim(0.01, 100)
        ax.axvline(1.0, color='grey', lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel('share')
    axes[0].legend(fontsize=7)
    fig.suptitle(f'{seq}: track lengths and errors under ground truth')
    path = out / f'{seq}_tracks.png'
    fig.savefig(path)
    return path


