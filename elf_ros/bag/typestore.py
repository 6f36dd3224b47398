"""
A `rosbags` typestore that knows ROS 2 Kilted's standard messages and elf_ros's own.

elf_ros's types are parsed from the package's .msg files (one source of truth with rosidl), so
the definitions and RIHS01 hashes written into bags equal those rosidl generates.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
import os
from pathlib import Path
import site
import sys
import sysconfig

from rosbags.interfaces import Connection
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from rosbags.typesys.store import Typestore

PACKAGE = 'elf_ros'
MESSAGES = ('Keypoint', 'KeypointArray', 'DescriptorArray', 'Features')
FEATURES = f'{PACKAGE}/msg/Features'
KEYPOINT_ARRAY = f'{PACKAGE}/msg/KeypointArray'
DESCRIPTOR_ARRAY = f'{PACKAGE}/msg/DescriptorArray'
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
MSG_DIR_ENV = 'ELF_ROS_MSG_DIR'


def _candidate_dirs() -> list[Path]:
    """Where the .msg files can be: override, source checkout, ament share, pip data files."""
    dirs = []
    if os.environ.get(MSG_DIR_ENV):
        dirs.append(Path(os.environ[MSG_DIR_ENV]))
    dirs.append(Path(__file__).resolve().parents[2] / 'msg')
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory(PACKAGE)) / 'msg')
    except Exception:  # noqa: BLE001 - not a ROS environment, or elf_ros not in its index
        pass
    # `pip install` puts setup.cfg's data_files under the scheme's data path (or --user base).
    for base in (sysconfig.get_path('data'), sys.prefix, site.USER_BASE):
        if base:
            dirs.append(Path(base) / 'share' / PACKAGE / 'msg')
    return dirs


def find_msg_dir() -> Path:
    """Find the folder of the elf_ros .msg files; FileNotFoundError lists where it looked."""
    dirs = _candidate_dirs()
    for d in dirs:
        if all((d / f'{name}.msg').is_file() for name in MESSAGES):
            return d
    raise FileNotFoundError(
        'cannot find the elf_ros message definitions (' + ', '.join(f'{m}.msg' for m in MESSAGES)
        + ') in: ' + ', '.join(str(d) for d in dirs) + f'; set {MSG_DIR_ENV} to their folder')


def recorded_typestore(connections: Iterable[Connection]) -> Typestore:
    """
    Return a typestore that reads a bag's elf_ros messages as the bag recorded them.

    Why: elf_ros messages gain fields over time (Keypoint size/angle, Features sizes/angles);
    a bag written before carries its own, older definitions, which the current ones cannot
    deserialize. Standard types come from Kilted, elf_ros types from each connection's msgdef
    (falling back to the current .msg files for connections that carry none).
    """
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for conn in connections:
        if conn.msgtype.startswith(f'{PACKAGE}/') and conn.msgdef and conn.msgdef.data:
            types.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
    current = elf_typestore()
    for name in MESSAGES:
        full = f'{PACKAGE}/msg/{name}'
        if full not in types:
            types[full] = current.fielddefs[full]
    store.register(types)
    return store


@lru_cache(maxsize=1)
def elf_typestore() -> Typestore:
    """Kilted's standard types plus elf_ros/msg/*, registered from the .msg files."""
    store = get_typestore(Stores.ROS2_KILTED)
    msg_dir = find_msg_dir()
    types = {}
    for name in MESSAGES:
        text = (msg_dir / f'{name}.msg').read_text(encoding='utf-8')
        types.update(get_types_from_msg(text, f'{PACKAGE}/msg/{name}'))
    store.register(types)
    return store
