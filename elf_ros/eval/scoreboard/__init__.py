"""
The scoreboard: tables per kind of change, ELF against SIFT, the targets, the docs blocks.

The Markdown blocks of docs/evaluation.md and README.md are rewritten from a run's results.json.
Everything here renders plain data (the `results.json` written by the evaluation), so the docs
can be regenerated from a stored run and the rendering is deterministic:

    python -m elf_ros.eval.scoreboard docs/results/scoreboard/results.json \
        docs/evaluation.md README.md

A file holds `<!-- scoreboard:begin -->` ... `<!-- scoreboard:end -->` (the full tables) or
`<!-- scoreboard:begin summary -->` ... `<!-- scoreboard:end -->` (one compact table with the
paper's numbers beside ours); only the text between the markers is replaced.
"""
from __future__ import annotations

import math
from pathlib import Path
import re
from typing import Any

from elf_ros.eval.groups import group_order
from elf_ros.eval.methods import matches_pattern
from elf_ros.eval.metrics import CORNER_THRESHOLDS
from elf_ros.eval.targets import check_targets, MEASURES, REFERENCE

# Published rep % / MS % on HPatches (ELF paper, Benbihi et al. ICCV 2019, Table 1).
PAPER_HPATCHES: tuple[tuple[str, str, float, float], ...] = (
    ('elf-vgg*', 'ELF-VGG', 63.8, 51.8),
    ('elf-alexnet*', 'ELF-AlexNet', 51.3, 35.2),
    ('sift', 'SIFT', 54.5, 26.1),
    ('kaze', 'KAZE', 56.9, 29.8),
    ('orb', 'ORB', 53.4, 14.8),
)
PAPER_OTHERS = 'SuperPoint 68.6 / 57.1, TILDE 66.0 / 46.7, LF-Net 61.2 / 35.6'
# Markers on lines of their own (a marker quoted inside a sentence is left alone).
BLOCK = re.compile(r'^(<!-- scoreboard:begin(?: (?P<variant>[\w-]+))? -->\n)(?P<body>.*?)'
                   r'^(<!-- scoreboard:end -->)$', re.DOTALL | re.MULTILINE)


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '-'
    return f'{value:.{digits}f}'


def _count(n: int, noun: str) -> str:
    return f'{n} {noun}{"" if n == 1 else "s"}'


def _pm(s: dict[str, float], key: str, digits: int = 1) -> str:
    return f'{s[key]:.{digits}f} ± {s[f"{key}_std"]:.{digits}f}'


def _acc(s: dict[str, float]) -> str:
    return '/'.join(f'{s[f"h_acc_{t:g}px"]:.0f}' for t in CORNER_THRESHOLDS)


def loc_cells(s: dict[str, Any]) -> str:
    """'1.20 | 50': median px and % within 1 px of the correct matches ('-' when unknown)."""
    return f'{_num(s.get("loc_median_px"), 2)} | {_num(s.get("loc_within_1px"), 0)}'


def ran_methods(data: dict[str, Any]) -> list[str]:
    return [m['name'] for m in data.get('methods', []) if m.get('available')]


def group_tables(data: dict[str, Any]) -> list[str]:
    """One table per group: mean ± std over pairs, correct matches' range over sequences."""
    accs = '/'.join(f'{t:g}' for t in CORNER_THRESHOLDS)
    lines: list[str] = []
    groups = data.get('groups', {})
    for name in group_order(list(groups)):
        entry = groups[name]
        rows = entry['methods']
        n_pairs = max((v['pairs'] for v in rows.values()), default=0)
        seqs = entry.get('sequences', [])
        lines += [f'#### {name}: {_count(n_pairs, "pair")}, {_count(len(seqs), "sequence")} '
                  f'({", ".join(seqs)})', '',
                  '| method | correct/pair | per-sequence | MNN prec % | rep % | MS % '
                  f'| H acc ≤{accs} px % | kp/img | ms/img |',
                  '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
        for method in ran_methods(data):
            s = rows.get(method)
            if not s:
                continue
            failed = f' ({s["failed"]} failed)' if s.get('failed') else ''
            lines.append(
                f'| {method}{failed} | {_pm(s, "correct", 0)} | '
                f'{s["correct_seq_min"]:.0f}–{s["correct_seq_max"]:.0f} | {_num(s["mnn_prec"])} | '
                f'{_pm(s, "rep")} | {_pm(s, "ms")} | {_acc(s)} | {s["keypoints"]:.0f} | '
                f'{s["ms_per_image"]:.0f} |')
        lines.append('')
    return lines


def vs_sift_table(data: dict[str, Any]) -> list[str]:
    """Show each ELF method per group: correct matches as a multiple of SIFT's, H acc ≤3 px."""
    groups = data.get('groups', {})
    names = group_order(list(groups))
    elf = [m for m in ran_methods(data) if m.startswith('elf-')]
    if not elf or not names:
        return []
    lines = ['#### ELF against SIFT on the same pairs', '',
             "Cell: correct matches per pair as a multiple of SIFT's · H acc ≤3 px % (SIFT's).",
             '', '| method | ' + ' | '.join(names) + ' |', '|---|' + '---:|' * len(names)]
    for method in elf:
        cells = []
        for g in names:
            rows = groups[g]['methods']
            s, ref = rows.get(method), rows.get(REFERENCE)
            if not s or not ref:
                cells.append('-')
                continue
            ratio = s['correct'] / ref['correct'] if ref['correct'] > 0 else math.inf
            cells.append(f'{ratio:.2f}x · {s["h_acc_3px"]:.0f} ({ref["h_acc_3px"]:.0f})')
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    return [*lines, '']


def localisation_table(data: dict[str, Any]) -> list[str]:
    """
    Where each method's correct matches land, per group and over all pairs (issue 16).

    Cell: median px error of the correct MNN matches · % of them within 1 px · H acc ≤1 px %.
    Pooled over the group's correct matches, so a pair with many matches weighs more.
    """
    groups = data.get('groups', {})
    names = group_order(list(groups))
    overall = data.get('overall', {})
    if not names:
        return []
    lines = ['#### Localisation of the correct matches', '',
             'Cell: median px error of the correct MNN matches · % of them within 1 px · '
             'H acc ≤1 px %.', '',
             '| method | ' + ' | '.join(names) + ' | all pairs |',
             '|---|' + '---:|' * (len(names) + 1)]

    def cell(s: dict[str, Any] | None) -> str:
        if not s:
            return '-'
        return (f'{_num(s.get("loc_median_px"), 2)} · {_num(s.get("loc_within_1px"), 0)} · '
                f'{_num(s.get("h_acc_1px"), 0)}')
    for method in ran_methods(data):
        cells = [cell(groups[g]['methods'].get(method)) for g in names]
        lines.append(f'| {method} | ' + ' | '.join([*cells, cell(overall.get(method))]) + ' |')
    return [*lines, '']


def targets_table(rows: list[dict[str, Any]]) -> list[str]:
    """List the targets of issue 8 with pass/fail; methods that did not run say so."""
    if not rows:
        return []
    passed = sum(r['verdict'] == 'pass' for r in rows)
    checked = sum(r['verdict'] in ('pass', 'fail') for r in rows)
    lines = [f'#### Targets: {passed} of {checked} checks pass', '',
             '| target | method | scope | measure | value | SIFT | required | result |',
             '|---|---|---|---|---:|---:|---|---|']
    for r in rows:
        if r['verdict'] == 'not run':
            note = r.get('note', '')
            short = note if len(note) <= 80 else note[:77] + '...'
            lines.append(f'| {r["target"]} | {r["method"]} | | | | | | not run: {short} |')
            continue
        digits = 0 if r['measure'] == 'correct' else 1
        lines.append(f'| {r["target"]} | {r["method"]} | {r["scope"]} | '
                     f'{MEASURES.get(r["measure"], r["measure"])} | {_num(r["value"], digits)} | '
                     f'{_num(r["reference"], digits)} | {r["required"]} | **{r["verdict"]}** |')
    return [*lines, '']


def not_run(data: dict[str, Any]) -> list[str]:
    skipped = [m for m in data.get('methods', []) if not m.get('available')]
    return ['Not run:', *(f'- {m["name"]}: {m["note"]}' for m in skipped), ''] if skipped else []


def protocol(data: dict[str, Any]) -> str:
    """'640x480, top 500, 5 px, code <revision>': what the numbers depend on."""
    st = data.get('settings', {})
    size = st.get('size')
    size_text = f'{size[0]}x{size[1]}' if isinstance(size, list) else str(size)
    rev = f', code {st["revision"]}' if st.get('revision') else ''
    px = st.get('pixel_threshold')
    return f'{size_text}, top {st.get("max_keypoints")}, {px if px is None else f"{px:g}"} px{rev}'


def run_line(data: dict[str, Any]) -> str:
    return f'Command: `{data.get("settings", {}).get("command", "?")}` ({protocol(data)}).'


def scoreboard_markdown(data: dict[str, Any], with_run_line: bool = True) -> str:
    """Render the scoreboard: groups, ELF vs SIFT, localisation, targets, what did not run."""
    if 'groups' not in data:
        data = {**data, 'groups': {}}
    rows = data.get('targets') or check_targets(data)
    lines = [run_line(data), ''] if with_run_line else []
    lines += [*group_tables(data), *vs_sift_table(data), *localisation_table(data),
              *targets_table(rows), *not_run(data)]
    return '\n'.join(lines).rstrip() + '\n'


def paper_numbers(method: str) -> str:
    for pattern, label, rep, ms in PAPER_HPATCHES:
        if matches_pattern(method, pattern):
            return f'{label} {rep:.1f} / {ms:.1f}'
    return ''


def summary_markdown(data: dict[str, Any]) -> str:
    """
    README's first look: correct matches per group, rep/MS, H acc, localisation, the paper.

    Localisation = where the correct matches land: median px and % within 1 px (pooled).
    """
    groups = data.get('groups', {})
    names = group_order(list(groups))
    overall = data.get('overall', {})
    n_pairs = max((v['pairs'] for v in overall.values()), default=0)
    n_seq = max((v['sequences'] for v in overall.values()), default=0)
    lines = [f'{_count(n_pairs, "pair")} of {_count(n_seq, "real sequence")}, '
             f'{protocol(data)}; `make scoreboard` rewrites this table, per-group tables with '
             'the spread: docs/evaluation.md.', '',
             f'| method | correct matches/pair: {" / ".join(names)} | rep % / MS % '
             '| H acc ≤1/3 px % | median px | ≤1 px % | kp/img | paper, HPatches: rep / MS |',
             '|---|---:|---:|---:|---:|---:|---:|---|']
    for method in ran_methods(data):
        s = overall.get(method)
        if not s:
            continue
        per = ' / '.join(f'{groups[g]["methods"][method]["correct"]:.0f}'
                         if method in groups[g]['methods'] else '-' for g in names)
        lines.append(f'| {method} | {per} | {s["rep"]:.1f} / {s["ms"]:.1f} | '
                     f'{s["h_acc_1px"]:.0f}/{s["h_acc_3px"]:.0f} | {loc_cells(s)} | '
                     f'{s["keypoints"]:.0f} | {paper_numbers(method)} |')
    skipped = [m['name'] for m in data.get('methods', []) if not m.get('available')]
    rows = data.get('targets') or check_targets(data)
    verdicts = [r['verdict'] for r in rows]
    lines += ['', f'Paper, HPatches (rep / MS), methods not run here: {PAPER_OTHERS}.']
    if skipped:
        lines.append(f'Not run here (reasons in docs/evaluation.md): {", ".join(skipped)}.')
    if rows:
        lines.append(f'Targets (issues 8 and 16): {verdicts.count("pass")} checks pass, '
                     f'{verdicts.count("fail")} fail, {verdicts.count("not run")} target '
                     'methods not run (docs/evaluation.md).')
    return '\n'.join(lines) + '\n'


RENDERERS = {None: scoreboard_markdown, 'summary': summary_markdown}


def check_blocks(text: str, source: str = 'text') -> int:
    """Count the scoreboard blocks of `text`; ValueError if there is none or one is unknown."""
    found = list(BLOCK.finditer(text))
    if not found:
        raise ValueError(f'{source}: no <!-- scoreboard:begin --> ... <!-- scoreboard:end --> '
                         'block to rewrite')
    for m in found:
        if m['variant'] not in RENDERERS:
            raise ValueError(f'{source}: unknown scoreboard block {m["variant"]!r}; use '
                             '<!-- scoreboard:begin --> or <!-- scoreboard:begin summary -->')
    return len(found)


def replace_blocks(text: str, data: dict[str, Any], source: str = 'text') -> str:
    """Rewrite every scoreboard block of `text` from `data` (a results.json)."""
    check_blocks(text, source)

    def render(m: re.Match[str]) -> str:
        return m.group(1) + RENDERERS[m['variant']](data) + m.group(4)
    return BLOCK.sub(render, text)


def update_docs(paths: list[Path], data: dict[str, Any]) -> list[Path]:
    """Rewrite the blocks of each file in place (all files checked before any is written)."""
    new = {p: replace_blocks(p.read_text(), data, str(p)) for p in paths}
    for path, text in new.items():
        path.write_text(text)
    return list(new)
