"""elf_ros.bag works without ROS: no rclpy import, and pip installs ship what it needs."""
import configparser
import os
from pathlib import Path
import shutil
import subprocess
import sys

import setuptools

REPO = Path(__file__).resolve().parents[2]


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / 'setup.cfg')
    return parser


def test_bag_tool_imports_no_ros_module():
    code = ('import sys, elf_ros.bag.cli, elf_ros.bag.process, elf_ros.bag.info, '
            'elf_ros.bag.pack\n'
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs', 'ament_index_python'))\n"
            'assert not bad, bad')
    run = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr


def test_pip_install_ships_the_messages_and_every_module_the_bag_tool_imports():
    cfg = _setup_cfg()
    shipped = cfg['options.data_files']['share/elf_ros/msg'].split()
    assert sorted(shipped) == sorted(f'msg/{p.name}' for p in (REPO / 'msg').glob('*.msg'))
    assert 'py_modules' not in cfg['options'], 'no modules shipped one by one out of elf_ros.ros'
    find = cfg['options.packages.find']
    packages = set(setuptools.find_packages(
        str(REPO), include=find['include'].replace(',', ' ').split(),
        exclude=find['exclude'].replace(',', ' ').split()))
    assert 'elf_ros.formats' in packages and 'elf_ros.ros' not in packages
    code = ('import sys, elf_ros.bag.cli, elf_ros.bag.process, elf_ros.bag.info, '
            'elf_ros.bag.pack\n'
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('elf_ros.'))))")
    run = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    for module in run.stdout.split():
        package = module if module in packages else module.rpartition('.')[0]
        assert package in packages, f'{module} is imported by elf-bag but not shipped'
    assert 'elf-bag = elf_ros.bag.cli:main' in cfg['options.entry_points']['console_scripts']


def test_message_folder_override(tmp_path):
    """ELF_ROS_MSG_DIR points at the .msg files when no known location has them."""
    for p in (REPO / 'msg').glob('*.msg'):
        shutil.copy(p, tmp_path / p.name)
    code = ('from elf_ros.bag.typestore import find_msg_dir, elf_typestore\n'
            'print(find_msg_dir())\n'
            "assert 'elf_ros/msg/Features' in elf_typestore().types")
    env = dict(os.environ, ELF_ROS_MSG_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path)
