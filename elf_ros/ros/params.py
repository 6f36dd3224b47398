"""
ROS parameters declared from the detector's own field metadata (one source of truth).

Names, defaults, help text and numeric ranges come from `elf_ros.core.config.FIELD_SPECS`;
this module only translates them into `ParameterDescriptor`s and back into a `DetectorConfig`.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import ParameterNotDeclaredException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_service import ParameterService

from elf_ros.core import load_preset, PRESETS
from elf_ros.core.config import ConfigError, DetectorConfig, FIELD_SPECS, FieldSpec
from elf_ros.core.detector import resolve_device
from elf_ros.core.presets import DEFAULT_PRESET

DETECTOR_FIELDS = tuple(FIELD_SPECS)
# Where the detector runs is the deployment's choice, not a preset's: a preset switch keeps them.
DEPLOYMENT_FIELDS = frozenset({'device', 'half_precision', 'cuda_graphs'})
LAYER_FIELDS = ('detection_layer', 'description_layer')
# One SetParameters request applies these together (validated as one configuration).
DETECTOR_PARAMETERS = frozenset({'preset', *FIELD_SPECS})
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
        'parameters; parameters given explicitly override it. Setting it at runtime resets '
        "every detector parameter to the preset's value (except device, half_precision, "
        'cuda_graphs), then applies the other values of the same request.',
        additional_constraints='one of ' + ', '.join(repr(p) for p in PRESETS)))
    defaults = load_preset(node.get_parameter('preset').value)
    for name, spec in FIELD_SPECS.items():
        node.declare_parameter(name, parameter_value(name, getattr(defaults, name)),
                               descriptor(name, spec, _FIELD_TYPE_NAMES[name]))


def parameter_value(name: str, value: Any) -> Any:
    """Return a field value as its ROS parameter type (a preset may write 5 for a double)."""
    return float(value) if _FIELD_TYPE_NAMES[name] == 'float' else value


def expand_request(params: list[Parameter], current_preset: str,
                   current_backbone: str) -> list[Parameter]:
    """
    Add what a preset or backbone switch implies, unless the request gives it explicitly.

    A new `preset` resets every detector field to the preset's value (deployment fields
    excepted); a new `backbone` without explicit layers takes that backbone's default layers
    (''). Setting either to its current value adds nothing. Used as the node's pre-set
    parameters callback, so it sees a whole request once the service groups it.
    """
    given = {p.name: p.value for p in params}
    extra: dict[str, Any] = {}
    preset = given.get('preset')
    if preset is not None and preset != current_preset and preset in PRESETS:
        config = load_preset(preset)
        extra.update({name: parameter_value(name, getattr(config, name))
                      for name in FIELD_SPECS if name not in DEPLOYMENT_FIELDS})
    backbone = given.get('backbone', extra.get('backbone'))
    if backbone is not None and backbone != current_backbone and not extra:
        extra.update({name: '' for name in LAYER_FIELDS})
    return list(params) + [Parameter(name, value=value) for name, value in extra.items()
                           if name not in given]


def check_buildable(config: DetectorConfig) -> None:
    """
    Check the cheap part of a build before a change is accepted.

    The weights file must exist and the device be there; ConfigError with the reason otherwise.
    """
    if config.weights not in ('imagenet', 'random') and not Path(
            config.weights).expanduser().is_file():
        raise ConfigError(f'weights: file {config.weights!r} does not exist (use '
                          "'imagenet', 'random' or an existing state-dict file)")
    resolve_device(config.device)


class GroupedParameterService(ParameterService):
    """
    The standard parameter services; SetParameters groups the detector parameters.

    The detector parameters of one request are applied together: `ros2 param set` of several
    values or `ros2 param load` is one validated change and at most one rebuild, whatever the
    order in the file (rclpy's service applies each parameter on its own). Each of them gets
    the group's result; node parameters are still applied one by one.
    """

    def _set_parameters_callback(self, request, response):
        node = self._get_node()
        params = [Parameter.from_parameter_msg(p) for p in request.parameters]
        group = [p for p in params if p.name in DETECTOR_PARAMETERS]
        group_result = _set_atomically(node, group) if group else None
        for param in params:
            response.results.append(
                group_result if param.name in DETECTOR_PARAMETERS
                else _set_atomically(node, [param]))
        return response


def _set_atomically(node: Node, params: list[Parameter]) -> SetParametersResult:
    try:
        return node.set_parameters_atomically(params)
    except ParameterNotDeclaredException as err:
        return SetParametersResult(successful=False, reason=str(err))


def config_from_node(node: Node) -> DetectorConfig:
    """Read the node's current parameter values into a DetectorConfig (not validated)."""
    return DetectorConfig(**{name: node.get_parameter(name).value for name in DETECTOR_FIELDS})


def detector_changes(params: list[Parameter]) -> dict[str, Any]:
    """Pick the detector fields out of a set-parameters request, as plain values."""
    return {p.name: p.value for p in params if p.name in FIELD_SPECS}


