"""package.xml, CMakeLists.txt, setup.cfg and the Python package agree on name and version."""
import configparser
from pathlib import Path
import re
import xml.etree.ElementTree as ElementTree

import elf_ros

REPO = Path(__file__).resolve().parents[2]
MESSAGES = ('Keypoint', 'KeypointArray', 'DescriptorArray', 'Features')


def _package_xml() -> ElementTree.Element:
    return ElementTree.parse(REPO / 'package.xml').getroot()


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / 'setup.cfg')
    return parser


def test_name_and_version_agree_everywhere():
    xml = _package_xml()
    cmake = (REPO / 'CMakeLists.txt').read_text()
    cfg = _setup_cfg()
    name, version = xml.findtext('name'), xml.findtext('version')
    assert name == 'elf_ros'
    assert re.search(r'^project\((\w+)\)', cmake, re.M).group(1) == name
    assert cfg['metadata']['name'] == name
    assert cfg['metadata']['version'] == version
    assert elf_ros.__version__ == version


def test_package_xml_is_format_3_with_ament_cmake_and_interfaces_group():
    xml = _package_xml()
    assert xml.get('format') == '3'
    assert xml.find('export/build_type').text == 'ament_cmake'
    assert xml.findtext('member_of_group') == 'rosidl_interface_packages'
    declared = {element.text for element in xml if element.tag.endswith('depend')}
    for key in ('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'launch_ros',
                'python3-torch', 'python3-torchvision', 'python3-numpy', 'python3-opencv',
                'rosidl_default_generators', 'rosidl_default_runtime', 'ament_cmake_pytest'):
        assert key in declared, f'package.xml does not declare {key}'


def test_every_message_file_is_generated():
    cmake = (REPO / 'CMakeLists.txt').read_text()
    on_disk = {path.stem for path in (REPO / 'msg').glob('*.msg')}
    assert on_disk == set(MESSAGES)
    for name in MESSAGES:
        assert f'"msg/{name}.msg"' in cmake


def test_executables_installed_by_cmake_exist_and_are_executable():
    cmake = (REPO / 'CMakeLists.txt').read_text()
    programs = re.search(r'install\(PROGRAMS(.*?)DESTINATION', cmake, re.S).group(1).split()
    assert programs
    for program in programs:
        path = REPO / program
        assert path.is_file() and path.stat().st_mode & 0o111, program
