"""Turn the pair records into summary numbers, Markdown tables and a JSON file."""
from __future__ import annotations

from dataclasses import asdict
import json
import math
from pathlib import Path
import sys
from typing import Any, Callable, Iterable

import numpy as np

from elf_ros.eval.groups import CHANGE_GROUPS, OTHER, SCOPE_RULES, scopes_of
from elf_ros.eval.metrics import CORNER_THRESHOLDS, PairScores
from elf_ros.eval.runner import Evaluation, PairRecord
from elf_ros.eval.scoreboard import loc_cells, scoreboard_markdown
from elf_ros.eval.targets import check_targets

COLUMNS = ('rep', 'ms', 'mnn_ms', 'mnn_prec') + tuple(f'h_acc_{t:g}px' for t in CORNER_THRESHOLDS)


def _stats(name: str, values: list[float]) -> dict[str, float]:
    """Mean, std (over pairs, population), min and max of one measure under `name`_*."""
    a = np.asarray(values, dtype=np.float64)
    return {name: float(a.mean()), f'{name}_std': float(a.std()),
            f'{name}_min': float(a.min()), f'{name}_max': float(a.max())}


def summarise(records: list[PairRecord]) -> dict[str, float]:
    """
    Measures over pairs: means (percent for rates) with the spread over pairs (std, min, max).

    A failed pair already carries zeros. `correct` is the number of correct MNN matches per
    pair (metrics.PairScores.mnn_correct); `correct_seq_min`/`_max` are the lowest and highest
    per-sequence means, the spread a reader sees between scenes.
    """
    if not records:
        return {}
    s = [r.scores for r in records]
    out: dict[str, float] = {'pairs': len(records),
                             'sequences': len({(r.dataset, r.sequence) for r in records})}
    out.update(_stats('rep', [100 * x.repeatability for x in s]))
    out.update(_stats('ms', [100 * x.matching_score for x in s]))
    out.update(_stats('correct', [x.mnn_correct for x in s]))
    per_seq = [float(np.mean([r.scores.mnn_correct for r in rs]))
               for rs in group(records, lambda r: (r.dataset, r.sequence)).values()]
    out['correct_seq_min'], out['correct_seq_max'] = min(per_seq), max(per_seq)
    out['mnn_matches'] = float(np.mean([x.mnn_matches for x in s]))
    out['mnn_ms'] = 100 * float(np.mean([x.mnn_matching_score for x in s]))
    out['mnn_prec'] = 100 * float(np.mean([x.mnn_precision for x in s]))
    for t in CORNER_THRESHOLDS:
        out[f'h_acc_{t:g}px'] = 100 * float(np.mean([x.homography_error <= t for x in s]))
    out.update(localisation(s))
    out['keypoints'] = float(np.mean([(x.detected1 + x.detected2) / 2 for x in s]))
    out['ms_per_image'] = 1000 * float(np.mean([r.seconds_per_image for r in records]))
    out['failed'] = sum(bool(r.error) for r in records)
    return out


def localisation(scores: list[PairScores]) -> dict[str, float]:
    """
    Where the correct MNN matches land (issue 16's numbers; nan when nothing was measured).

    `loc_median_px`: the median over pairs of each pair's median error (px in image 2; pairs
    without a correct match left out), so one pair with many matches does not decide it;
    `loc_within_1px`: percent of all correct matches within 1 px (metrics.
    LOCALISATION_THRESHOLD), pooled over pairs. Pairs recorded before these measures existed
    (no median although correct matches) count as not measured.
    """
    measured = [x for x in scores if x.mnn_correct and math.isfinite(x.mnn_error_median)]
    correct = sum(x.mnn_correct for x in measured)
    return {'loc_median_px': (float(np.median([x.mnn_error_median for x in measured]))
                              if measured else math.nan),
            'loc_within_1px': (100 * sum(x.mnn_within_1px for x in measured) / correct
                               if correct else math.nan)}


def group(records: Iterable[PairRecord],
          key: Callable[[PairRecord], Any]) -> dict[Any, list[PairRecord]]:
    out: dict[Any, list[PairRecord]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def summary_table(evaluation: Evaluation) -> dict[str, dict[str, dict[str, float]]]:
    """Summarise each method over all pairs of each dataset: {dataset: {method: summary}}."""
    by_dataset = group(evaluation.records, lambda r: r.dataset)
    return {d: {m: summarise(rs) for m, rs in group(recs, lambda r: r.method).items()}
            for d, recs in by_dataset.items()}


def breakdown(evaluation: Evaluation, dataset: str,
              key: Callable[[PairRecord], Any]) -> dict[str, dict[Any, dict[str, float]]]:
    """Summarise one dataset per method and per key (sequence or sweep value)."""
    recs = [r for r in evaluation.records if r.dataset == dataset]
    return {m: {k: summarise(v) for k, v in group(rs, key).items()}
            for m, rs in group(recs, lambda r: r.method).items()}


def _fmt(value: float) -> str:
    return f'{value:.1f}'



def methods_json(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [{'name': m.name, 'weights': m.weights, 'available': m.available, 'note': m.note}
            for m in evaluation.methods]


def scoreboard_data(evaluation: Evaluation) -> dict[str, Any]:
    """
    Collect what the scoreboard renders.

    Summaries per group of change ({group: {sequences, methods: {method: summary}}}), per
    extra scope across groups ('scopes', e.g. every HPatches pair), per dataset ('summary') and
    over every pair ('overall'), plus the targets checked on them.
    """
    groups = {}
    for name, recs in group(evaluation.records, lambda r: r.group).items():
        groups[name] = {'sequences': sorted({r.sequence for r in recs}),
                        'methods': {m: summarise(rs)
                                    for m, rs in group(recs, lambda r: r.method).items()}}
    real = [r for r in evaluation.records if r.group in (*CHANGE_GROUPS, OTHER)]
    scopes: dict[str, dict[str, dict[str, float]]] = {}
    for name in SCOPE_RULES:
        recs = [r for r in real if name in scopes_of(r.sequence)]
        if recs:
            scopes[name] = {m: summarise(rs)
                            for m, rs in group(recs, lambda r: r.method).items()}
    data: dict[str, Any] = {
        'methods': methods_json(evaluation), 'groups': groups, 'scopes': scopes,
        'summary': summary_table(evaluation),  # per dataset
        'overall': {m: summarise(rs) for m, rs in group(evaluation.records,
                                                         lambda r: r.method).items()}}
    data['targets'] = check_targets(data)
    return data


def has_change_groups(evaluation: Evaluation) -> bool:
    return any(r.group in (*CHANGE_GROUPS, OTHER) for r in evaluation.records)


def markdown(evaluation: Evaluation) -> str:
    """
    Render results.md.

    The scoreboard by kind of change (when the run has real sequences), then one table per
    dataset: every method, including the ones that could not run and why.
    """
    lines: list[str] = []
    if has_change_groups(evaluation):
        lines += ['## Scoreboard by kind of change', '',
                  scoreboard_markdown(scoreboard_data(evaluation), with_run_line=False),
                  '## Per dataset', '']
    tables = summary_table(evaluation)
    accs = '/'.join(f'{t:g}' for t in CORNER_THRESHOLDS)
    for dataset, param in evaluation.datasets.items():
        rows = tables.get(dataset, {})
        n_pairs = max((v['pairs'] for v in rows.values()), default=0)
        lines += [f'### {dataset} ({n_pairs} pair{"" if n_pairs == 1 else "s"})', '',
                  '| method | weights | correct/pair | rep % | MS % | MNN-MS % | MNN prec % '
                  f'| H acc ≤{accs} px % | median px | ≤1 px % | kp/img | ms/img |',
                  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
        skipped = [m for m in evaluation.methods if not m.available]
        for status in evaluation.methods:
            if not status.available:
                lines.append(f'| {status.name} | not run (see below) | | | | | | | | | | |')
                continue
            s = rows.get(status.name)
            if not s:
                continue
            acc = '/'.join(f'{s[f"h_acc_{t:g}px"]:.0f}' for t in CORNER_THRESHOLDS)
            failed = f' ({s["failed"]} failed)' if s['failed'] else ''
            lines.append(f'| {status.name}{failed} | {status.weights} | {s["correct"]:.0f} | '
                         f'{_fmt(s["rep"])} | {_fmt(s["ms"])} | {_fmt(s["mnn_ms"])} | '
                         f'{_fmt(s["mnn_prec"])} | {acc} | {loc_cells(s)} | '
                         f'{s["keypoints"]:.0f} | '
                         f'{s["ms_per_image"]:.0f} |')
        if skipped:
            lines += ['', 'Not run:', *(f'- {m.name}: {m.note}' for m in skipped)]
        if param:
            lines += ['', *sweep_markdown(evaluation, dataset, param)]
        lines.append('')
    return '\n'.join(lines)


def sweep_markdown(evaluation: Evaluation, dataset: str, param: str) -> list[str]:
    """Repeatability / matching score per sweep value (the paper's robustness curves)."""
    per = breakdown(evaluation, dataset, lambda r: r.param)
    values = sorted({v for m in per.values() for v in m})
    lines = [f'rep % / MS % by {param}:', '',
             '| method | ' + ' | '.join(f'{v:g}' for v in values) + ' |',
             '|---|' + '---:|' * len(values)]
    for method, by_value in per.items():
        cells = [f'{by_value[v]["rep"]:.1f} / {by_value[v]["ms"]:.1f}' if v in by_value else ''
                 for v in values]
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    return lines


def _jsonable(value: Any) -> Any:
    """Strict JSON: inf/nan (a failed homography) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(evaluation: Evaluation, settings: dict[str, Any]) -> dict[str, Any]:
    return _jsonable({
        'settings': settings,
        **scoreboard_data(evaluation),
        'per_sequence': {d: breakdown(evaluation, d, lambda r: r.sequence)
                         for d in evaluation.datasets},
        'per_sweep_value': {d: breakdown(evaluation, d, lambda r: r.param)
                            for d, param in evaluation.datasets.items() if param},
        'pairs': [{**{k: v for k, v in asdict(r).items() if k != 'scores'},
                   **r.scores.as_dict()} for r in evaluation.records],
    })


def write_reports(evaluation: Evaluation, out_dir: Path, settings: dict[str, Any],
                  header: str = '') -> tuple[Path, Path]:
    """Write results.md and results.json into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / 'results.md', out_dir / 'results.json'
    md_path.write_text((header + '\n\n' if header else '') + markdown(evaluation))
    json_path.write_text(json.dumps(to_json(evaluation, settings), indent=1) + '\n')
    return md_path, json_path


def write_rows(out_dir: Path, prog: str, argv: list[str] | None, rows: list[dict[str, Any]],
               render: Callable[[list[dict[str, Any]], str], str]) -> int:
    """
    Finish a row-table command: write its results and return its exit status (0).

    results.md holds ``render(rows, command)`` (also printed), results.json the command and the
    rows, both in ``out_dir``.
    """
    command = f'python -m {prog} ' + ' '.join(argv if argv is not None else sys.argv[1:])
    text = render(rows, command)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'results.md').write_text(text)
    (out_dir / 'results.json').write_text(json.dumps({'command': command, 'rows': rows},
                                                     indent=1))
    print(text)
    return 0
