"""The shipped YAML, rviz and launch files agree with the node and the core they configure."""
import ast
from pathlib import Path

import pytest
import yaml

pytest.importorskip('elf_ros.msg', reason='needs the built messages (scripts/setup_env.sh)')
from elf_ros.core import DEFAULT_PRESET, FIELD_SPECS, load_preset  # noqa: E402
from elf_ros.ros.params import NODE_PARAMETERS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
KNOWN = {'preset'} | set(FIELD_SPECS) | {p.name for p in NODE_PARAMETERS}


def params_of(name: str) -> dict:
    return yaml.safe_load((REPO / 'config' / name).read_text())['/**']['ros__parameters']


@pytest.mark.parametrize('file, preset', [('elf.yaml', DEFAULT_PRESET), ('vgg16.yaml', 'vgg16')])
def test_yaml_is_its_preset_and_lists_every_parameter(file, preset):
    params = params_of(file)
    assert set(params) == KNOWN
    assert params['preset'] == preset
    paper = load_preset(preset)
    for name in FIELD_SPECS:
        assert params[name] == getattr(paper, name), name
    for p in NODE_PARAMETERS:
        assert params[p.name] == p.default, p.name


def test_the_default_preset_is_the_offline_one():
    """The node, elf-bag and the launch file (elf.yaml) default to weights shipped by pip."""
    assert DEFAULT_PRESET == 'efficientnet_lite1'


@pytest.mark.parametrize('name', ['efficientnet_lite0', 'efficientnet_lite1'])
def test_efficientnet_yaml_selects_the_offline_preset(name):
    params = params_of(f'{name}.yaml')
    assert set(params) <= KNOWN
    config = load_preset(params['preset'], **{k: v for k, v in params.items() if k != 'preset'})
    assert config.backbone == name and config.weights == 'imagenet'
    assert config.detection_layer == 'stem_conv'      # the comment says so


def test_rviz_shows_debug_image_saliency_and_matches_reliably():
    rviz = yaml.safe_load((REPO / 'config' / 'elf.rviz').read_text())
    displays = rviz['Visualization Manager']['Displays']
    topics = {d['Topic']['Value']: d for d in displays if d['Class'].endswith('/Image')}
    # Relative, so rviz2 in a namespace (the launch file's) shows that camera.
    assert set(topics) == {'debug_image', 'saliency', 'matches'}
    assert all(d['Topic']['Reliability Policy'] == 'Reliable' for d in topics.values())


def test_launch_file_declares_the_documented_arguments():
    tree = ast.parse((REPO / 'launch' / 'elf.launch.py').read_text())
    declared = {node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, 'id', '') ==
                'DeclareLaunchArgument' and isinstance(node.args[0], ast.Constant)}
    # The boolean arguments are declared from one table, FLAGS (name -> default, help).
    flags = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                 and getattr(n.targets[0], 'id', '') == 'FLAGS')
    declared |= {key.value for key in flags.keys}
    assert declared == {'params_file', 'image_topics', 'namespace', 'device', 'log_level',
                        'rviz', 'fastdds_profile', 'input_transport', 'use_sim_time', 'respawn',
                        'respawn_delay', 'lifecycle', 'matcher', 'camera_info_topic',
                        'matcher_refine', 'tracker'}
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description'
               for n in tree.body)


def test_fastdds_profile_is_valid_xml_with_a_large_shared_memory_segment():
    import xml.etree.ElementTree as ET
    root = ET.parse(REPO / 'config' / 'fastdds_large_frames.xml').getroot()
    ns = {'d': 'http://www.eprosima.com'}
    segment = root.find('.//d:transport_descriptor[d:type="SHM"]/d:segment_size', ns)
    assert int(segment.text) >= 640 * 480 * 3 * 4  # room for several full frames


def test_package_xml_declares_every_ros_package_the_code_imports():
    """Each ROS package imported by elf_ros (msg/srv packages, rclpy, launch) is declared."""
    from xml.etree import ElementTree
    xml = ElementTree.parse(REPO / 'package.xml').getroot()
    declared = {e.text for e in xml if e.tag.endswith('depend')}
    imported = set()
    for path in [*(REPO / 'elf_ros').rglob('*.py'), REPO / 'launch' / 'elf.launch.py']:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split('.')[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split('.')[0] for alias in node.names)
    ros_packages = {name for name in imported
                    if name.endswith(('_msgs', '_interfaces')) or name in (
                        'rclpy', 'launch', 'launch_ros', 'ament_index_python')}
    assert ros_packages - {'elf_ros'} <= declared, ros_packages - declared
    assert {'rcl_interfaces', 'lifecycle_msgs', 'rviz2'} <= declared
