"""
The issue's quality targets as data, checked against a run's group summaries (not timed tests).

Each target names methods by pattern, so a preset that does not exist yet (or could not run
here) is reported as 'not run' instead of breaking the table; edit TARGETS, not the checker.
Ratios are taken against SIFT in the same run and the same scope (same pairs, same budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elf_ros.eval.groups import CHANGE_GROUPS, PHOTOMETRIC, VIEWPOINT, ZOOM_ROTATION
from elf_ros.eval.methods import matches_pattern

REFERENCE = 'sift'
EVERY_GROUP = '*'
"""Scope: each change group (viewpoint, zoom+rotation, photometric) present in the run."""

ALL_PAIRS = 'all'
"""Scope: every pair of the run (the summary over all datasets)."""

MEASURES = {'correct': 'correct/pair', 'rep': 'rep %', 'ms': 'MS %', 'h_acc_3px': 'H acc ≤3 px %',
            'h_acc_1px': 'H acc ≤1 px %', 'loc_median_px': 'median px of correct',
            'loc_within_1px': 'correct ≤1 px %'}


@dataclass(frozen=True)
class Check:
    """
    One requirement on one measure.

    `measure` (a summary key) in `scope` (a group, EVERY_GROUP, ALL_PAIRS, a scope of
    groups.SCOPE_RULES such as 'hpatches': every v_*/i_* pair, or 'dataset:NAME') is at least
    `ratio` x SIFT's there, or at least `minimum`, or at most `maximum` (for errors in px).
    """

    measure: str
    scope: str
    ratio: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    def required(self) -> str:
        if self.ratio is not None:
            return f'≥ {self.ratio:g}x SIFT'
        if self.maximum is not None:
            return f'≤ {self.maximum:g}'
        return f'≥ {self.minimum:g}'


@dataclass(frozen=True)
class Target:
    """Checks that every method whose name matches one of `methods` (fnmatch) must pass."""

    title: str
    methods: tuple[str, ...]
    checks: tuple[Check, ...]


def _at_least_sift(measure: str, scopes: tuple[str, ...], ratio: float = 1.0) -> tuple[Check, ...]:
    return tuple(Check(measure, s, ratio=ratio) for s in scopes)


TARGETS: tuple[Target, ...] = (
    # Issue 8, "Targets". Preset names are fnmatch patterns (elf_ros/core/presets.py).
    Target('VGG presets users run', ('elf-vgg16', 'elf-vgg19'),
           (Check('correct', EVERY_GROUP, ratio=1.3), Check('h_acc_3px', EVERY_GROUP, ratio=1.0))),
    Target('offline default (efficientnet_lite1)', ('elf-efficientnet_lite1',),
           (*_at_least_sift('correct', (VIEWPOINT, PHOTOMETRIC)),
            *_at_least_sift('ms', (VIEWPOINT, PHOTOMETRIC)),
            Check('correct', ZOOM_ROTATION, ratio=0.8), Check('ms', ZOOM_ROTATION, ratio=0.8),
            Check('h_acc_3px', PHOTOMETRIC, ratio=1.0))),
    # Issue 16: where the offline default's correct matches land (SIFT: about 0.8 px, 77 %).
    Target('localisation of the offline default', ('elf-efficientnet_lite1',),
           (Check('loc_median_px', ALL_PAIRS, maximum=1.0),
            Check('loc_within_1px', ALL_PAIRS, minimum=60.0))),
    Target("the paper's behaviour (ELF-VGG, Kapur threshold)",
           ('elf-vgg19_paper',),
           (Check('rep', 'hpatches', minimum=63.8), Check('ms', 'hpatches', minimum=51.8),
            Check('rep', PHOTOMETRIC, minimum=63.8), Check('ms', PHOTOMETRIC, minimum=51.8))),
)


def scope_summaries(data: dict[str, Any], scope: str) -> dict[str, dict[str, float]]:
    """Return {method: summary} of one scope: a group, a SCOPE_RULES name or 'dataset:NAME'."""
    if scope == ALL_PAIRS:
        return data.get('overall', {})
    if scope.startswith('dataset:'):
        return data.get('summary', {}).get(scope.split(':', 1)[1], {})
    if scope in data.get('scopes', {}):
        return data['scopes'][scope]
    return data.get('groups', {}).get(scope, {}).get('methods', {})


def _expand(scope: str, data: dict[str, Any]) -> list[str]:
    if scope == EVERY_GROUP:
        present = [g for g in CHANGE_GROUPS if g in data.get('groups', {})]
        return present or list(CHANGE_GROUPS)
    return [scope]


def _verdict(check: Check, value: float | None, reference: float | None) -> tuple[str, float]:
    if value is None or value != value:          # None or nan: nothing measured there
        return 'no data', float('nan')
    if check.maximum is not None:
        return ('pass' if value <= check.maximum + 1e-9 else 'fail'), check.maximum
    if check.ratio is not None:
        if reference is None:
            return 'no SIFT', float('nan')
        need = check.ratio * reference
    else:
        need = float(check.minimum)  # type: ignore[arg-type]
    return ('pass' if value >= need - 1e-9 else 'fail'), need


def check_targets(data: dict[str, Any],
                  targets: tuple[Target, ...] = TARGETS) -> list[dict[str, Any]]:
    """
    Check every target on a scoreboard's summaries.

    One row per (target, method, scope, measure), with the value, SIFT's value, the required
    value and the verdict: 'pass', 'fail', 'not run' (no such method ran), 'no data' (the run
    had no pair in that scope) or 'no SIFT' (a ratio without SIFT in the run).
    """
    statuses = {m['name']: m for m in data.get('methods', [])}
    rows: list[dict[str, Any]] = []
    for target in targets:
        names = [n for n in statuses if any(matches_pattern(n, p) for p in target.methods)]
        ran = [n for n in names if statuses[n].get('available')]
        for name in names:
            if name not in ran:
                rows.append({'target': target.title, 'method': name, 'verdict': 'not run',
                             'note': statuses[name].get('note', '')})
        if not names:
            rows.append({'target': target.title, 'method': ' / '.join(target.methods),
                         'verdict': 'not run', 'note': 'no such method in this run'})
        for name in ran:
            for check in target.checks:
                for scope in _expand(check.scope, data):
                    per_method = scope_summaries(data, scope)
                    value = per_method.get(name, {}).get(check.measure)
                    reference = per_method.get(REFERENCE, {}).get(check.measure)
                    verdict, need = _verdict(check, value, reference)
                    rows.append({'target': target.title, 'method': name, 'scope': scope,
                                 'measure': check.measure, 'value': value,
                                 'reference': reference, 'required': check.required(),
                                 'needed': need, 'verdict': verdict, 'note': ''})
    return rows
