"""
Every parameter of elf_node, declared here: the detector's and the node's own.

Detector parameters come from the core's field metadata (one source of truth): names, defaults,
help text and numeric ranges from `FIELD_SPECS`, translated into `ParameterDescriptor`s and back
into a `DetectorConfig`. The node's own parameters (topics, QoS, outputs) are `NODE_PARAMETERS`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

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
from rclpy.qos import ReliabilityPolicy

from elf_ros.core import (
    DEFAULT_PRESET,
    descriptor_codec,
    DetectorConfig,
    FIELD_SPECS,
    FieldSpec,
    load_preset,
    PRESETS,
)

DETECTOR_FIELDS = tuple(FIELD_SPECS)
# Where the detector runs is the deployment's choice, not a preset's: a preset switch keeps them.
DEPLOYMENT_FIELDS = frozenset({'device', 'half_precision', 'cuda_graphs', 'runtime'})
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


# -- the node's own parameters -------------------------------------------------------------------
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}
TRANSPORTS = ('raw', 'compressed')


@dataclass(frozen=True)
class NodeParameter:
    """A parameter of the node itself (the detector's come from the core's field specs)."""

    name: str
    default: Any
    description: str
    dynamic: bool = False  # settable while running; the others are read-only
    constraints: str = ''
    check: Callable[[Any], bool] = lambda value: True  # noqa: E731 - valid value?


NODE_PARAMETERS = (
    NodeParameter('image_topics', ['image'],
                  "Input image topics, one per camera; each camera's outputs are published in "
                  "its input topic's namespace (image -> keypoints, left/image -> "
                  'left/keypoints). A remapped input (-r image:=/cam/image_raw) takes its '
                  'outputs along (/cam/keypoints).'),
    NodeParameter('input_transport', 'raw',
                  "'raw': sensor_msgs/Image on each topic; 'compressed': "
                  'sensor_msgs/CompressedImage (jpeg/png) on <topic>/compressed, as '
                  'image_transport publishes it.',
                  constraints="'raw' or 'compressed'", check=lambda v: v in TRANSPORTS),
    NodeParameter('input_reliability', 'best_effort',
                  'QoS reliability of the image subscriptions (sensor-data style by default).',
                  constraints="'best_effort' or 'reliable'", check=lambda v: v in RELIABILITY),
    NodeParameter('input_depth', 1, 'QoS history depth of the image subscriptions.',
                  constraints='>= 1', check=lambda v: v >= 1),
    NodeParameter('output_reliability', 'reliable',
                  'QoS reliability of the outputs (rviz2 subscribes reliably).',
                  constraints="'best_effort' or 'reliable'", check=lambda v: v in RELIABILITY),
    NodeParameter('output_depth', 5, 'QoS history depth of the outputs.', constraints='>= 1',
                  check=lambda v: v >= 1),
    NodeParameter('publish_saliency', True,
                  'Publish the saliency map (built only while someone subscribes).', True),
    NodeParameter('publish_debug_image', True,
                  'Publish the source image with keypoints drawn (built only while someone '
                  'subscribes).', True),
    NodeParameter('colour_saliency', True,
                  'Saliency as a turbo colour map (rgb8) instead of mono8.', True),
    NodeParameter('normalized_keypoints', False,
                  'Also publish keypoints_normalized: keypoints undistorted and normalised with '
                  'the camera_info topic beside each image topic (x = (u - cx) / fx, ...).',
                  constraints='needs <image namespace>/camera_info'),
    NodeParameter('diagnostics_period', 1.0, 'Seconds between /diagnostics messages.',
                  constraints='> 0', check=lambda v: v > 0),
    NodeParameter('descriptor_format', 'float32',
                  'Descriptor payload of the features topic: float32, float16 (half the size) '
                  'or uint8 (a quarter; codes q, value = (q - 128) / descriptor_scale).',
                  constraints="'float32', 'float16' or 'uint8'",
                  check=lambda v: str(v).strip().lower() in descriptor_codec.FORMATS),
    NodeParameter('input_timeout', 3.0,
                  'Seconds without images (or without output while images arrive) after '
                  "which a camera's diagnostics turn WARN.",
                  constraints='> 0', check=lambda v: v > 0),
    NodeParameter('rejection_hold', 10.0,
                  'Seconds a rejected frame keeps the diagnostics at WARN (and last_rejection '
                  'set).', constraints='> 0', check=lambda v: v > 0),
    NodeParameter('cpu_threads', 0,
                  "CPU threads for detection (torch's, the runtime's and OpenCV's); 0 keeps "
                  "their defaults (one per core). On a CPU shared with the camera driver and "
                  'DDS, 1 keeps latency steady.',
                  constraints='>= 0; process-wide, applied at start-up', check=lambda v: v >= 0),
)


# Node parameters that may change while running (on/off switches of the outputs).
SWITCHES = frozenset(p.name for p in NODE_PARAMETERS if p.dynamic)


def declare_node_parameters(node: Node) -> None:
    """Declare NODE_PARAMETERS (read-only unless dynamic); ValueError naming a bad value."""
    for p in NODE_PARAMETERS:
        node.declare_parameter(p.name, p.default, ParameterDescriptor(
            description=p.description, read_only=not p.dynamic,
            additional_constraints=p.constraints))
        value = node.get_parameter(p.name).value
        if not p.check(value):
            raise ValueError(f'{p.name}: allowed {p.constraints}; got {value!r}')



class ReadOnlyParametersNode(Node):
    """
    A node whose parameters are one {name: (default, description)} table, all read-only.

    elf_matcher and elf_tracker: everything runs in the executor's callbacks, so close() has
    nothing to wait for (shutdown.Stoppable).
    """

    def __init__(self, name: str, table: dict[str, tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        for key, (default, text) in table.items():
            self.declare_parameter(key, default, ParameterDescriptor(description=text,
                                                                     read_only=True))

    def _param(self, name: str) -> Any:
        return self.get_parameter(name).value

    def close(self, timeout: float = 1.0) -> bool:  # noqa: ARG002 - shutdown.Stoppable
        """Nothing runs outside the executor's callbacks, so there is nothing to wait for."""
        return True
