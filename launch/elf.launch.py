"""
Start elf_node (and optionally rviz2) with a params file.

  ros2 launch elf_ros elf.launch.py
  ros2 launch elf_ros elf.launch.py \
      params_file:=$(ros2 pkg prefix elf_ros)/share/elf_ros/config/efficientnet_lite0.yaml
  ros2 launch elf_ros elf.launch.py image_topics:='[left/image, right/image]' namespace:=stereo
  ros2 launch elf_ros elf.launch.py device:=cuda log_level:=debug rviz:=true
  ros2 launch elf_ros elf.launch.py matcher:=true camera_info_topic:=camera_info rviz:=true

Launch arguments given here override the params file; empty ones leave it alone.
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

from elf_ros.ros.topics import camera_topics


def _node(context, *args, **kwargs):
    """Build the node once the arguments are known, passing only the overrides that are set."""
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    overrides = {}
    if arg('image_topics'):
        topics = yaml.safe_load(arg('image_topics'))
        overrides['image_topics'] = [topics] if isinstance(topics, str) else list(topics)
    if arg('device'):
        overrides['device'] = arg('device')
    return [Node(
        package='elf_ros',
        executable='elf_node',
        name='elf_node',
        namespace=arg('namespace'),
        parameters=[arg('params_file'), overrides],
        arguments=['--ros-args', '--log-level', arg('log_level')],
        output='screen',
        emulate_tty=True,
    )]


def _matcher(context, *args, **kwargs):
    """elf_matcher on the first camera: its features, image and (optional) camera_info."""
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    if arg('matcher').lower() not in ('true', '1', 'yes'):
        return []
    topics = yaml.safe_load(arg('image_topics')) if arg('image_topics') else 'image'
    image = topics if isinstance(topics, str) else list(topics)[0]
    features = camera_topics([image])[0].features
    prefix = features[:-len('features')]  # the matcher's outputs sit beside the camera's
    return [Node(
        package='elf_ros', executable='elf_matcher', name='elf_matcher',
        namespace=arg('namespace'),
        parameters=[{'features_topic': features, 'image_topic': image,
                     'camera_info_topic': arg('camera_info_topic')}],
        remappings=[('matches', prefix + 'matches'), ('motion', prefix + 'motion')],
        arguments=['--ros-args', '--log-level', arg('log_level')],
        output='screen', emulate_tty=True,
    )]


def generate_launch_description():
    share = get_package_share_directory('elf_ros')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'elf.yaml'),
            description="YAML parameters of elf_node (config/elf.yaml: the paper's ELF-VGG; "
                        'config/efficientnet_lite0.yaml: offline ImageNet weights)'),
        DeclareLaunchArgument(
            'image_topics', default_value='',
            description="Input topic(s), e.g. image_raw or '[left/image, right/image]'; "
                        'empty: as in the params file'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its relative topics'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto | cpu | cuda | cuda:N; empty: as in the '
                                          'params file'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='debug | info | warn | error | fatal'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Also start rviz2 with config/elf.rviz'),
        DeclareLaunchArgument('matcher', default_value='false',
                              description='Also start elf_matcher on the first camera '
                                          '(frame-to-frame matches image, motion)'),
        DeclareLaunchArgument('camera_info_topic', default_value='',
                              description="elf_matcher's CameraInfo topic for the motion "
                                          "estimate; empty: no motion"),
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
        Node(package='rviz2', executable='rviz2', name='rviz2',
             arguments=['-d', os.path.join(share, 'config', 'elf.rviz')],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ])
