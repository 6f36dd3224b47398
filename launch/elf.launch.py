"""
Start elf_node (and optionally elf_matcher, elf_tracker and rviz2) with a params file.

  ros2 launch elf_ros elf.launch.py image_topics:=/camera/image_raw   # outputs: /camera/keypoints
  ros2 launch elf_ros elf.launch.py image_topics:='[left/image, right/image]' namespace:=stereo
  ros2 launch elf_ros elf.launch.py \
      params_file:=$(ros2 pkg prefix elf_ros)/share/elf_ros/config/vgg16.yaml device:=cuda
  ros2 launch elf_ros elf.launch.py matcher:=true camera_info_topic:=camera_info rviz:=true
  ros2 launch elf_ros elf.launch.py lifecycle:=true  # then: ros2 lifecycle set /elf_node configure
  ros2 launch elf_ros elf.launch.py tracker:=true image_topics:=/cam0/image_raw  # VINS tracks

The default params file, config/elf.yaml, is the offline default preset (efficientnet_lite1).
Launch arguments given here override the params file; empty ones (the default of image_topics,
device, input_transport and use_sim_time) leave it alone. Boolean arguments accept
true/false, 1/0, yes/no, on/off in any case; anything else stops the launch with the reason
before any process starts. `log_level` applies to the nodes' own loggers only (rcl's stays at
info). Inputs: give the camera topic as image_topics (outputs go beside it); a
`-r image:=...` remap in your own launch file does the same.

The nodes are required: when elf_node (or the matcher) exits, the whole launch shuts down, and
`ros2 launch` exits non-zero when it failed (e.g. `cannot start:` offline with a VGG preset, or
`device:=cuda` without CUDA). With respawn:=true a node killed by a signal or crashing is
restarted instead; one that exits 1 ('cannot start', or an unhandled error) would fail the same
way again, so the launch stops. rviz:=true without rviz2 installed stops the launch before
anything starts (headless machines: run rviz2 on another computer on the same ROS domain).
The camera driver gains from the same Fast DDS profile (fastdds_profile) when it runs in its
own process: large frames then travel through shared memory.
"""
from dataclasses import dataclass
import os

from ament_index_python.packages import (
    get_package_prefix,
    get_package_share_directory,
    PackageNotFoundError,
)
from launch.actions import (
    DeclareLaunchArgument,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
from launch.launch_description import LaunchDescription
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
import yaml

from elf_ros.formats.topics import camera_topics

TRUE_WORDS = ('true', '1', 'yes', 'on')
FALSE_WORDS = ('false', '0', 'no', 'off')
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')
# The exit status of a node that cannot start (elf_ros.ros.shutdown.run_node): respawning it
# would only fail again.
EXIT_CANNOT_START = 1

# Boolean launch arguments: name -> (default, description). One line per argument; read them
# with `args.flags[name]` (a bool) in the builders below. An empty default means "as in the
# params file" (use_sim_time).
FLAGS = {
    'use_sim_time': ('', 'Use /clock (bag replay with --clock); empty: as in the params file'),
    'respawn': ('false', 'Restart elf_node (and elf_matcher) when killed or crashing'),
    'lifecycle': ('false', 'Start elf_lifecycle_node (managed: configure and activate it with '
                           'ros2 lifecycle set)'),
    'rviz': ('false', 'Also start rviz2 with config/elf.rviz (needs rviz2: the launch stops '
                      'with the reason when it is not installed)'),
    'matcher': ('false', 'Also start elf_matcher on the first camera (frame-to-frame matches '
                         'image, motion)'),
    'tracker': ('false', 'Also start elf_tracker on the first camera (VINS feature tracks, '
                         'docs/integrations.md)'),
}
MATCHER_REFINEMENTS = ('lk', 'none')


class LaunchArgumentError(ValueError):
    """A launch argument has a value the launch file cannot use; the message says which."""


def parse_flag(name: str, text: str) -> bool | None:
    """true/1/yes/on -> True, false/0/no/off -> False (any case), '' -> None, else an error."""
    word = text.strip().lower()
    if word == '':
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise LaunchArgumentError(
        f"launch argument {name}:={text!r} is not a boolean; use one of "
        f"{'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}")


def parse_topics(text: str) -> list[str] | None:
    """image_topics: a topic or a YAML list of topics ('' -> None: as in the params file)."""
    if not text:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise LaunchArgumentError(f'image_topics:={text!r} is not a topic or a YAML list: '
                                  f'{err}') from None
    topics = [value] if isinstance(value, str) else value
    if not isinstance(topics, list) or not topics or not all(
            isinstance(t, str) and t.strip() for t in topics):
        raise LaunchArgumentError(
            f"image_topics:={text!r}: give one topic (image_topics:=/camera/image_raw) or a "
            "non-empty list of topics (image_topics:='[left/image, right/image]')")
    try:
        camera_topics(topics)
    except ValueError as err:
        raise LaunchArgumentError(f'image_topics:={text!r}: {err}') from None
    return topics


def params_file_value(path: str, name: str):
    """Return a parameter's value in a ROS params file (any section; None if absent)."""
    with open(path) as f:
        content = yaml.safe_load(f) or {}
    for section in content.values():
        params = (section or {}).get('ros__parameters', {}) if isinstance(section, dict) else {}
        if name in params:
            return params[name]
    return None


@dataclass(frozen=True)
class LaunchArgs:
    """The launch arguments, validated and typed (one place reads LaunchConfiguration)."""

    params_file: str
    image_topics: list[str] | None
    namespace: str
    overrides: dict
    log_level: str
    respawn_delay: float
    camera_info_topic: str
    matcher_refine: str
    flags: dict

    @property
    def use_sim_time(self) -> bool:
        """The argument if given, else the params file's value (for the nodes without it)."""
        if self.flags['use_sim_time'] is not None:
            return self.flags['use_sim_time']
        return parse_flag('use_sim_time (params file)',
                          str(params_file_value(self.params_file, 'use_sim_time') or 'false'))


def read_args(context) -> LaunchArgs:
    """Parse and check every launch argument before any process starts."""
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    flags = {name: parse_flag(name, arg(name)) for name in FLAGS}
    for name, value in flags.items():
        if value is None and name != 'use_sim_time':
            raise LaunchArgumentError(f'launch argument {name} is empty; use true or false')
    params_file = arg('params_file')
    if not os.path.isfile(params_file):
        raise LaunchArgumentError(f'params_file:={params_file!r}: no such file')
    log_level = arg('log_level').lower()
    if log_level not in LOG_LEVELS:
        raise LaunchArgumentError(f"log_level:={arg('log_level')!r}: use one of "
                                  f"{', '.join(LOG_LEVELS)}")
    try:
        respawn_delay = float(arg('respawn_delay'))
    except ValueError:
        raise LaunchArgumentError(f"respawn_delay:={arg('respawn_delay')!r} is not a number "
                                  'of seconds') from None
    refine = arg('matcher_refine').lower()
    if refine not in ('', *MATCHER_REFINEMENTS):
        raise LaunchArgumentError(f"matcher_refine:={arg('matcher_refine')!r}: use one of "
                                  f"{', '.join(MATCHER_REFINEMENTS)} (or leave it empty)")
    if not refine:  # LK refinement needs the raw images; a compressed-only camera has none
        refine = 'none' if arg('input_transport') == 'compressed' else 'lk'
    topics = parse_topics(arg('image_topics'))
    overrides = {name: arg(name) for name in ('device', 'input_transport') if arg(name)}
    if topics is not None:
        overrides['image_topics'] = topics
    if flags['use_sim_time'] is not None:
        overrides['use_sim_time'] = flags['use_sim_time']
    return LaunchArgs(params_file, topics, arg('namespace').strip('/'), overrides, log_level,
                      respawn_delay, arg('camera_info_topic'), refine, flags)


def log_level_args(namespace: str, node_name: str, level: str) -> list[str]:
    """--log-level for this node's logger only (<namespace with dots>.<name>), not rcl's."""
    logger = '.'.join([*filter(None, namespace.split('/')), node_name])
    return ['--ros-args', '--log-level', f'{logger}:={level}']


def required(node: Node, name: str, respawn: bool) -> list:
    """Return the node and a handler that ends the launch when it exits (non-zero: fails)."""
    def on_exit(event, context):
        code = event.returncode
        if context.is_shutdown or code == 0:
            return None if context.is_shutdown else [Shutdown(reason=f'{name} exited')]
        if respawn and code != EXIT_CANNOT_START:
            return None  # killed or crashed: launch_ros restarts it after respawn_delay
        # An exception in a handler makes launch shut everything down and return 1.
        raise RuntimeError(f'{name} exited with code {code}; stopping the launch (its last '
                           "lines above say why, e.g. 'cannot start: ...')")
    return [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))]


# Our nodes end with this process even when `ros2 launch` is stopped by SIGTERM, which leaves
# launched processes running (elf_ros.ros.parent_watch).
FOLLOW_LAUNCH = {'ELF_ROS_PARENT_PID': str(os.getpid())}


def elf_node(args: LaunchArgs) -> list:
    lifecycle = args.flags['lifecycle']
    return required(Node(
        package='elf_ros',
        executable='elf_lifecycle_node' if lifecycle else 'elf_node',
        name='elf_node',
        namespace=args.namespace,
        parameters=[args.params_file, args.overrides],
        arguments=log_level_args(args.namespace, 'elf_node', args.log_level),
        respawn=args.flags['respawn'],
        respawn_delay=args.respawn_delay,
        additional_env=FOLLOW_LAUNCH,
        output='screen',
        emulate_tty=True,
    ), 'elf_node', args.flags['respawn'])


def matcher(args: LaunchArgs) -> list:
    """elf_matcher on the first camera: its features, image and (optional) camera_info."""
    image = (args.image_topics or [_params_file_topic(args.params_file)])[0]
    features = camera_topics([image])[0].features
    prefix = features[:-len('features')]  # the matcher's outputs sit beside the camera's
    return required(Node(
        package='elf_ros', executable='elf_matcher', name='elf_matcher',
        namespace=args.namespace,
        parameters=[{'features_topic': features, 'image_topic': image,
                     'camera_info_topic': args.camera_info_topic,
                     'refine': args.matcher_refine, 'use_sim_time': args.use_sim_time}],
        remappings=[('matches', prefix + 'matches'), ('motion', prefix + 'motion')],
        arguments=log_level_args(args.namespace, 'elf_matcher', args.log_level),
        respawn=args.flags['respawn'],
        respawn_delay=args.respawn_delay,
        additional_env=FOLLOW_LAUNCH,
        output='screen', emulate_tty=True,
    ), 'elf_matcher', args.flags['respawn'])


def tracker(args: LaunchArgs) -> list:
    """elf_tracker on the first camera: VINS feature tracks beside its features."""
    image = (args.image_topics or [_params_file_topic(args.params_file)])[0]
    features = camera_topics([image])[0].features
    prefix = features[:-len('features')]
    return required(Node(
        package='elf_ros', executable='elf_tracker', name='elf_tracker',
        namespace=args.namespace,
        parameters=[{'features_topic': features, 'image_topic': image,
                     'camera_info_topic': args.camera_info_topic or prefix + 'camera_info',
                     'use_sim_time': args.use_sim_time}],
        remappings=[('feature_tracks', prefix + 'feature_tracks'), ('tracks', prefix + 'tracks')],
        arguments=log_level_args(args.namespace, 'elf_tracker', args.log_level),
        respawn=args.flags['respawn'],
        respawn_delay=args.respawn_delay,
        additional_env=FOLLOW_LAUNCH,
        output='screen', emulate_tty=True,
    ), 'elf_tracker', args.flags['respawn'])


def rviz(args: LaunchArgs) -> list:
    """rviz2 in the namespace of the node and its first camera (elf.rviz has relative topics)."""
    try:
        get_package_prefix('rviz2')
    except PackageNotFoundError:
        raise LaunchArgumentError(
            'rviz:=true but rviz2 is not installed (sudo apt install ros-$ROS_DISTRO-rviz2); '
            'on a headless robot run rviz2 on another computer on the same ROS_DOMAIN_ID, or '
            'drop rviz:=true') from None
    image = (args.image_topics or [_params_file_topic(args.params_file)])[0]
    camera_namespace = image.strip().rstrip('/').rpartition('/')[0].strip('/')
    return [Node(
        package='rviz2', executable='rviz2', name='rviz2',
        namespace='/'.join(filter(None, [args.namespace, camera_namespace])),
        arguments=['-d', os.path.join(get_package_share_directory('elf_ros'), 'config',
                                      'elf.rviz')],
        parameters=[{'use_sim_time': args.use_sim_time}],
    )]


def _params_file_topic(params_file: str) -> str:
    topics = params_file_value(params_file, 'image_topics') or ['image']
    return topics if isinstance(topics, str) else str(topics[0])


# Optional companions of elf_node: the boolean argument (in FLAGS) that starts each one.
COMPANIONS = {'matcher': matcher, 'tracker': tracker, 'rviz': rviz}


def launch_nodes(context, *args, **kwargs) -> list:
    """Check every argument, then return every action: a bad one starts nothing."""
    parsed = read_args(context)
    actions = elf_node(parsed)
    for flag, build in COMPANIONS.items():
        if parsed.flags[flag]:
            actions += build(parsed)
    return actions


def generate_launch_description():
    share = get_package_share_directory('elf_ros')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'elf.yaml'),
            description='YAML parameters of elf_node (config/elf.yaml: the offline default '
                        'preset, efficientnet_lite1; config/vgg16.yaml: ELF-VGG16, needs '
                        "torchvision's weights, best on a GPU)"),
        DeclareLaunchArgument(
            'image_topics', default_value='',
            description="Input topic(s), e.g. image_raw or '[left/image, right/image]'; "
                        'empty: as in the params file'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its relative topics'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto | cpu | cuda | cuda:N; empty: as in the '
                                          'params file'),
        DeclareLaunchArgument('input_transport', default_value='',
                              description='raw | compressed (<topic>/compressed); empty: as in '
                                          'the params file'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description="The nodes' own log level (debug | info | warn | "
                                          "error | fatal); rcl's stays at info"),
        DeclareLaunchArgument('respawn_delay', default_value='2.0',
                              description='Seconds before a respawn'),
        DeclareLaunchArgument('camera_info_topic', default_value='',
                              description="elf_matcher's CameraInfo topic for the motion "
                                          "estimate; empty: no motion (elf_tracker: empty = "
                                          "the camera's camera_info)"),
        DeclareLaunchArgument('matcher_refine', default_value='',
                              description="elf_matcher's match refinement: lk | none; empty: "
                                          'lk, or none with input_transport:=compressed'),
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, (default, description) in FLAGS.items()],
        DeclareLaunchArgument(
            'fastdds_profile',
            default_value=EnvironmentVariable(
                'FASTDDS_DEFAULT_PROFILES_FILE',
                default_value=os.path.join(share, 'config', 'fastdds_large_frames.xml')),
            description='Fast DDS XML profile for the launched processes (default: yours if '
                        'FASTDDS_DEFAULT_PROFILES_FILE is set, else a 16 MB shared-memory '
                        'segment so 640x480 frames avoid fragmented UDP; see docs/node.md)'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                               LaunchConfiguration('fastdds_profile')),
        OpaqueFunction(function=launch_nodes),
    ])
