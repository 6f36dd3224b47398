"""
Detector configuration for offline runs: a preset, or the node's YAML parameter file.

The node's files (config/*.yaml) look like `/**: {ros__parameters: {preset: ..., field: value}}`.
Detector fields are read through the core's field specs (the same names, types and ranges as the
node's parameters); node-only parameters (topics, QoS, debug outputs) do not apply to a bag and
are returned so the caller can say they were ignored.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from elf_ros.core import ConfigError, DEFAULT_PRESET, DetectorConfig, FIELD_SPECS, load_preset


def read_params_file(path: Path) -> dict[str, Any]:
    """
    Read the ros__parameters of a ROS 2 params file, merged over every node entry.

    Wildcard entries (`/**`, `*`) come first, so an entry naming a node overrides them, as in
    rcl. ConfigError when the file is unreadable or not in that format.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except OSError as err:
        raise ConfigError(f'params file {path}: {err.strerror or err}') from None
    except yaml.YAMLError as err:
        raise ConfigError(f'params file {path}: not valid YAML ({err})') from None
    if not isinstance(data, dict):
        raise ConfigError(f'params file {path}: expected a mapping of node names, got '
                          f'{type(data).__name__}')
    entries = sorted(data.items(), key=lambda kv: str(kv[0]).strip('/') not in ('**', '*'))
    params: dict[str, Any] = {}
    for _node, body in entries:
        if isinstance(body, dict) and isinstance(body.get('ros__parameters'), dict):
            params.update(body['ros__parameters'])
    if not params and data:
        raise ConfigError(f'params file {path}: no "<node>: ros__parameters:" section found')
    return params


def make_config(preset: str | None = None, params_file: Path | None = None,
                overrides: dict[str, Any] | None = None) -> tuple[DetectorConfig, list[str]]:
    """
    Build a DetectorConfig from a preset or params file plus overrides; also ignored names.

    The params file's own `preset` (default the node's) supplies defaults for fields it does not
    set, as in the node.
    """
    params = read_params_file(params_file) if params_file else {}
    name = preset or params.pop('preset', None) or DEFAULT_PRESET
    params.pop('preset', None)
    fields = {k: v for k, v in params.items() if k in FIELD_SPECS}
    ignored = sorted(k for k in params if k not in FIELD_SPECS)
    fields.update(overrides or {})
    config = load_preset(str(name))
    # ROS double parameters may be written as integers in YAML (e.g. `noise_blur_sigma: 4`).
    return config.replace(**fields).validate(), ignored
