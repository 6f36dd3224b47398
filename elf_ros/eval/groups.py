"""
Sequences grouped by the kind of change between their images, by name, in one table.

Held-out sequences of known kinds are evaluated on every landing, so the group comes from a rule
on the name (HPatches prefixes, Oxford sequence names), never from a list of the sequences we
happen to have; a name no rule knows goes to 'other' instead of failing the run.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

VIEWPOINT = 'viewpoint'
ZOOM_ROTATION = 'zoom+rotation'
PHOTOMETRIC = 'photometric'
OTHER = 'other'

# group -> name patterns (fnmatch, lower case, matched after an optional 'oxford_' prefix).
GROUP_RULES: dict[str, tuple[str, ...]] = {
    VIEWPOINT: ('graf', 'wall', 'v_*'),            # planar scenes seen from 20-60 degrees
    ZOOM_ROTATION: ('boat', 'bark'),               # zoom 1.1-2.8 with in-plane rotation
    PHOTOMETRIC: ('trees', 'bikes',                # blur
                  'ubc',                           # JPEG compression
                  'leuven', 'i_*'),                # illumination
}
CHANGE_GROUPS: tuple[str, ...] = tuple(GROUP_RULES)
"""The groups by kind of change, in table order ('other' and synthetic data come after)."""

# Further scopes the targets use, across groups: the paper reports ELF-VGG on all of HPatches.
SCOPE_RULES: dict[str, tuple[str, ...]] = {'hpatches': ('v_*', 'i_*')}

_PREFIXES = ('oxford_', 'oxford-')


def sequence_key(sequence: str) -> str:
    """'oxford_graf' -> 'graf', 'v_wormhole' -> 'v_wormhole' (lower case)."""
    name = sequence.strip().lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def group_of(sequence: str) -> str:
    """Return the kind of change of a real sequence, or 'other' if no rule knows its name."""
    key = sequence_key(sequence)
    for group, patterns in GROUP_RULES.items():
        if any(fnmatchcase(key, p) for p in patterns):
            return group
    return OTHER


def scopes_of(sequence: str) -> list[str]:
    """Return the extra scopes (SCOPE_RULES) a real sequence belongs to, by its name."""
    key = sequence_key(sequence)
    return [scope for scope, patterns in SCOPE_RULES.items()
            if any(fnmatchcase(key, p) for p in patterns)]


def group_order(groups: set[str] | list[str]) -> list[str]:
    """Change groups first in their fixed order, then 'other', then the rest alphabetically."""
    known = [g for g in (*CHANGE_GROUPS, OTHER) if g in groups]
    return known + sorted(set(groups) - set(known))
