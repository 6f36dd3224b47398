"""
Start elf_node (and optionally rviz2) with a params file.

  ros2 launch elf_ros elf.launch.py
  ros2 launch elf_ros elf.launch.py \
      params_file:=$(ros2 pkg prefix elf_ros)/share/elf_ros/config/efficientnet_lite1.yaml
  ros2 launch elf_ros elf.launch.py image_topics:='[left/image, right/image]' namespace:=stereo
  ros2 launch elf_ros elf.launch.py device:=cuda log_level:=debug rviz:=true
  ros2 launch elf_ros elf.launch.py matcher:=true camera_info_topic:=camera_info rviz:=true
  ros2 launch elf_ros elf.launch.py image_topics:=/camera/image_raw   # outputs: /camera/keypoints
  ros2 launch elf_ros elf.launch.py lifecycle:=true  # then: ros2 lifecycle set /elf_node configure
  ros2 launch elf_ros elf.launch.py image_topics:=/cam0/image_raw tracker:=true  # VINS tracks

Launch arguments given here override the params file; empty ones leave it alone. `log_level`
applies to elf_node's own logger only (rcl's stays at info). Inputs: give the camera topic as
image_topics (outputs go beside it); a `-r image:=...` remap in your own launch file does the
same (the outputs follow the remapped input).
The camera driver gains from the same Fast DDS profile (fastdds_profile) when it runs in its
own process: large frames then travel through shared memory.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
import yaml

from elf_ros.formats.topics import camera_topics


def _launch_arg(context, name):
    return LaunchConfiguration(name).perform(context).strip()


def _log_level_args(namespace, node_name, level):
    """--log-level for this node's logger only (<namespace with dots>.<name>), not rcl's."""
    logger = '.'.join([*filter(None, namespace.split('/')), node_name])
    return ['--ros-args', '--log-level', f'{logger}:={level}']


def _node(context, *args, **kwargs):
    """Build the node once the arguments are known, passing only the overrides that are set."""
    def arg(name):
        return _launch_arg(context, name)

    overrides = {}
    if arg('image_topics'):
        topics = yaml.safe_load(arg('image_topics'))
        overrides['image_topics'] = [topics] if isinstance(topics, str) else list(topics)
    if arg('device'):
        overrides['device'] = arg('device')
    if arg('input_transport'):
        overrides['input_transport'] = arg('input_transport')
    overrides['use_sim_time'] = arg('use_sim_time').lower() == 'true'
    namespace = arg('namespace').strip('/')
    lifecycle = arg('lifecycle').lower() == 'true'
    return [Node(
        package='elf_ros',
        executable='elf_lifecycle_node' if lifecycle else 'elf_node',
        name='elf_node',
        namespace=namespace,
        parameters=[arg('params_file'), overrides],
        arguments=_log_level_args(namespace, 'elf_node', arg('log_level')),
        respawn=arg('respawn').lower() == 'true',
        respawn_delay=float(arg('respawn_delay')),
        output='screen',
        emulate_tty=True,
    ), Node(
        # Relative topics in elf.rviz: rviz2 in the node's namespace (plus the first camera's
        # own namespace) shows that camera's debug_image and saliency.
        package='rviz2', executable='rviz2', name='rviz2',
        namespace='/'.join(filter(None, [namespace, _camera_namespace(overrides)])),
        arguments=['-d', os.path.join(get_package_share_directory('elf_ros'), 'config',
                                      'elf.rviz')],
        parameters=[{'use_sim_time': overrides['use_sim_time']}],
        condition=IfCondition(LaunchConfiguration('rviz')),
    )]


def _matcher(context, *args, **kwargs):
    """elf_matcher on the first camera: its features, image and (optional) camera_info."""
    def arg(name):
        return _launch_arg(context, name)

    if arg('matcher').lower() not in ('true', '1', 'yes'):
        return []
    topics = yaml.safe_load(arg('image_topics')) if arg('image_topics') else 'image'
    image = topics if isinstance(topics, str) else list(topics)[0]
    features = camera_topics([image])[0].features
    prefix = features[:-len('features')]  # the matcher's outputs sit beside the camera's
    namespace = arg('namespace').strip('/')
    # LK refinement needs the raw images; with compressed input the raw topic may not exist.
    refine = arg('matcher_refine') or ('none' if arg('input_transport') == 'compressed'
                                       else 'lk')
    return [Node(
        package='elf_ros', executable='elf_matcher', name='elf_matcher',
        namespace=namespace,
        parameters=[{'features_topic': features, 'image_topic': image,
                     'camera_info_topic': arg('camera_info_topic'), 'refine': refine,
                     'use_sim_time': arg('use_sim_time').lower() == 'true'}],
        remappings=[('matches', prefix + 'matches'), ('motion', prefix + 'motion')],
        arguments=_log_level_args(namespace, 'elf_matcher', arg('log_level')),
        respawn=arg('respawn').lower() == 'true',
        respawn_delay=float(arg('respawn_delay')),
        output='screen', emulate_tty=True,
    )]


def _tracker(context, *args, **kwargs):
    """elf_tracker on the first camera: VINS feature tracks beside its features."""
    def arg(name):
        return _launch_arg(context, name)

    if arg('tracker').lower() not in ('true', '1', 'yes'):
        return []
    topics = yaml.safe_load(arg('image_topics')) if arg('image_topics') else 'image'
    image = topics if isinstance(topics, str) else list(topics)[0]
    features = camera_topics([image])[0].features
    prefix = features[:-len('features')]
    namespace = arg('namespace').strip('/')
    return [Node(
        package='elf_ros', executable='elf_tracker', name='elf_tracker',
        namespace=namespace,
        parameters=[{'features_topic': features, 'image_topic': image,
                     'camera_info_topic': arg('camera_info_topic') or prefix + 'camera_info',
                     'use_sim_time': arg('use_sim_time').lower() == 'true'}],
        remappings=[('feature_tracks', prefix + 'feature_tracks'), ('tracks', prefix + 'tracks')],
        arguments=_log_level_args(namespace, 'elf_tracker', arg('log_level')),
        respawn=arg('respawn').lower() == 'true',
        respawn_delay=float(arg('respawn_delay')),
        output='screen', emulate_tty=True,
    )]


def _camera_namespace(overrides):
    """Namespace of the first camera given on the command line ('' for the default `image`)."""
    topics = overrides.get('image_topics') or ['image']
    head, _, _ = topics[0].strip().rstrip('/').rpartition('/')
    return head.strip('/')


def generate_launch_description():
    share = get_package_share_directory('elf_ros')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'elf.yaml'),
            description='YAML parameters of elf_node (config/elf.yaml: ELF-VGG16, the vgg16 '
                        'preset; config/efficientnet_lite1.yaml: offline ImageNet weights)'),
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
                              description="elf_node's own log level (debug | info | warn | "
                                          "error | fatal); rcl's stays at info"),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (bag replay with --clock)'),
        DeclareLaunchArgument('respawn', default_value='false',
                              description='Restart elf_node when it exits (e.g. a crash)'),
        DeclareLaunchArgument('respawn_delay', default_value='2.0',
                              description='Seconds before a respawn'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='Start elf_lifecycle_node (managed: configure and '
                                          'activate it with ros2 lifecycle set)'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start rviz2 with config/elf.rviz (needs rviz2)'),
        DeclareLaunchArgument('matcher', default_value='false',
                              description='Also start elf_matcher on the first camera '
                                          '(frame-to-frame matches image, motion)'),
        DeclareLaunchArgument('matcher_refine', default_value='',
                              description="elf_matcher's match refinement: lk | none; empty: "
                                          'lk, or none with input_transport:=compressed'),
        DeclareLaunchArgument('camera_info_topic', default_value='',
                              description="elf_matcher's CameraInfo topic for the motion "
                                          "estimate; empty: no motion (elf_tracker: empty = "
                                          "the camera's camera_info)"),
        DeclareLaunchArgument('tracker', default_value='false',
                              description='Also start elf_tracker on the first camera (VINS '
                                          'feature tracks, docs/integrations.md)'),
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
        OpaqueFunction(function=_node),
        OpaqueFunction(function=_matcher),
        OpaqueFunction(function=_tracker),
    ])
