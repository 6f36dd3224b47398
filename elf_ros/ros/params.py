"""
ROS parameters declared from the detector's own field metadata (one source of truth).

Names, defaults, help text and numeric ranges come from `elf_ros.core.config.FIELD_SPECS`;
this module only translates them into `ParameterDescriptor`s and back into a `DetectorConfig`.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from elf_ros.core import load_preset, PRESETS
from elf_ros.core.config import DetectorConfig, FIELD_SPECS, FieldSpec, RUNTIME_FIELDS

DETECTOR_FIELDS = tuple(FIELD_SPECS)
DEFAULT_PRESET = 'vgg16'  # ELF-VGG (pool2/conv3_1, no threshold, sub-pixel; docs/core.md)
_ROS_TYPES = {
    'bool': ParameterType.PARAMETER_BOOL,
    'int': ParameterType.PARAMETER_INTEGER,
    'float': ParameterType.PARAMETER_DOUBLE,
    'str': ParameterType.PARAMETER_STRING,
}
_FIELD_TYPE_NAMES = {f.name: f.type if isinstance(f.type, str) else f.type.__name__
                     for f in fields(DetectorConfig)}


def descriptor(name: str, spec: FieldSpec, type_name: str) -> ParameterDescriptor:
    """ParameterDescriptor with the field's help text, range and (in words) its choices."""
    desc = ParameterDescriptor(name=name, type=_ROS_TYPES[type_name], description=spec.description)
    notes = []
    if spec.choices:
        notes.append('one of ' + spec.allowed())
    if not spec.runtime:
        notes.append('changing it rebuilds the detector (the old one serves until then)')
    else:
        notes.append('applies from the next frame')
    desc.additional_constraints = '; '.join(notes)
    if type_name == 'int' and spec.minimum is not None and spec.maximum is not None:
        desc.integer_range = [IntegerRange(
            from_value=int(spec.minimum), to_value=int(spec.maximum), step=1)]
    elif type_name == 'float' and spec.minimum is not None and spec.maximum is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0)]
    return desc


def declare_detector_parameters(node: Node) -> None:
    """
    Declare `preset`, then one parameter per detector field with the preset's defaults.

    A params file or --ros-args overrides any of them, so a YAML file can say just
    `preset: efficientnet_lite0` and change the one or two values it cares about.
    """
    node.declare_parameter('preset', DEFAULT_PRESET, ParameterDescriptor(
        description='Named detector configuration supplying the defaults of the detector '
        'parameters; parameters given explicitly override it.',
        additional_constraints='one of ' + ', '.join(repr(p) for p in PRESETS),
        read_only=True))
    defaults = load_preset(node.get_parameter('preset').value)
    for name, spec in FIELD_SPECS.items():
        type_name = _FIELD_TYPE_NAMES[name]
        value = getattr(defaults, name)
        if type_name == 'float':
            value = float(value)
        node.declare_parameter(name, value, descriptor(name, spec, type_name))


def config_from_node(node: Node) -> DetectorConfig:
    """Read the node's current parameter values into a DetectorConfig (not validated)."""
    return DetectorConfig(**{name: node.get_parameter(name).value for name in DETECTOR_FIELDS})


def detector_changes(params: list[Parameter]) -> dict[str, Any]:
    """Pick the detector fields out of a set-parameters request, as plain values."""
    return {p.name: p.value for p in params if p.name in FIELD_SPECS}


def needs_rebuild(changes: dict[str, Any]) -> bool:
    """Tell whether a change cannot be applied to a running detector (network fields)."""
    return any(name not in RUNTIME_FIELDS for name in changes)
