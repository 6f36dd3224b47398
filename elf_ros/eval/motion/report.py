"""The Markdown report of a relative-pose run (results.md)."""
from __future__ import annotations

from elf_ros.eval.motion.runner import MAX_ERROR_DEG, MIN_INLIERS, Run

COLUMNS = (('failure_pct', 'fail %', '{:.0f}'),
           ('median_rotation_error_deg', 'rot err median °', '{:.2f}'),
           ('median_translation_error_deg', 't dir err median °', '{:.2f}'),
           ('median_inliers', 'inliers median', '{:.0f}'),
           ('median_matches', 'matches median', '{:.0f}'),
           ('median_used', 'used median', '{:.0f}'))


def markdown(rows: list[dict], runs: list[Run], unavailable: dict[str, str],
             targets: list[tuple[bool, str]], command: str) -> str:
    out = ['# Relative pose: ELF vs classical features', '', f'Command: `{command}`', '',
           f'A pair fails with fewer than {MIN_INLIERS} inliers or a rotation or translation-'
           f'direction error over {MAX_ERROR_DEG:.0f}°; a pair without a pose counts as 180° in '
           "the medians. Refinement: `none` (positions as matched) or `lk` (the core's LK "
           'stage; `used` = matches it kept, from which the pose is estimated). Time: feature '
           'extraction per frame, then matching + refinement + pose per pair.', '']
    for seq in dict.fromkeys(r['sequence'] for r in rows):
        out += [f'## {seq}', '']
        head = ['k', 'method', 'refine', 'keypoints'] + [c[1] for c in COLUMNS] + ['extract ms',
                                                                          'match+pose ms']
        out += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * 3 + '---:|' * (len(head) - 3)]
        for r in (r for r in rows if r['sequence'] == seq):
            cells = [str(r['k']), r['method'], r.get('refine', 'none'), f"{r['keypoints']:.0f}"]
            cells += [fmt.format(r[key]) for key, _, fmt in COLUMNS]
            cells += [f"{r['extract_ms']:.0f}", f"{r['pose_ms']:.1f}"]
            out.append('| ' + ' | '.join(cells) + ' |')
        out.append('')
    if unavailable:
        out += ['Not run:', ''] + [f'- {m}: {why}' for m, why in unavailable.items()] + ['']
    met = sum(ok for ok, _ in targets)
    out += [f'## Target: the offline default vs SIFT ({met} of {len(targets)} met)',
            '', 'Fails on no more pairs than SIFT, median rotation and translation-direction '
            "errors no larger than SIFT's, both with the benchmark's default refinement.", '']
    out += [f'- {line}' for _, line in targets]
    weights = {r.method: r.weights for r in runs}
    out += ['', 'Weights: ' + '; '.join(f'{m}: {w}' for m, w in weights.items()), '']
    return '\n'.join(out)
