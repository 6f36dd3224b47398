"""Bags written before a message gained fields stay readable with their recorded definitions."""
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from elf_ros.bag.messages import features_descriptors
from elf_ros.bag.typestore import elf_typestore, FEATURES, recorded_typestore

# Features.msg before sizes/angles (issue 16), as bags of that time recorded it.
OLD_FEATURES = """
uint8 FLOAT32 = 0
uint8 FLOAT16 = 1
uint8 UINT8 = 2
std_msgs/Header header
uint32 image_width
uint32 image_height
float32[] keypoints
float32[] scores
string backbone
string layer
uint32 descriptor_length
uint8 descriptor_format
float32[] descriptors
uint8[] descriptor_bytes
float32 descriptor_scale
"""


def write_old_bag(path):
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(OLD_FEATURES, FEATURES))
    cls = store.types[FEATURES]
    time = store.types['builtin_interfaces/msg/Time'](sec=3, nanosec=4)
    header = store.types['std_msgs/msg/Header'](stamp=time, frame_id='cam')
    desc = np.eye(3, 4, dtype=np.float32)
    msg = cls(header=header, image_width=64, image_height=48,
              keypoints=np.arange(6, dtype=np.float32), scores=np.ones(3, np.float32),
              backbone='b', layer='l', descriptor_length=4, descriptor_format=cls.FLOAT32,
              descriptors=desc.reshape(-1), descriptor_bytes=np.zeros(0, np.uint8),
              descriptor_scale=0.0)
    with Writer(path, version=9) as writer:
        conn = writer.add_connection('/cam/features', FEATURES, typestore=store)
        writer.write(conn, 5, store.serialize_cdr(msg, FEATURES))
    return desc


def test_an_old_features_bag_reads_with_its_recorded_definition(tmp_path):
    desc = write_old_bag(tmp_path / 'old')
    with Reader(tmp_path / 'old') as reader:
        store = recorded_typestore(reader.connections)
        (conn, _, raw), = list(reader.messages())
        msg = store.deserialize_cdr(raw, conn.msgtype)
        with pytest.raises(Exception):  # noqa: B017 - the current definition cannot read it
            elf_typestore().deserialize_cdr(raw, conn.msgtype)
    assert msg.header.frame_id == 'cam' and not hasattr(msg, 'sizes')
    np.testing.assert_array_equal(features_descriptors(msg), desc)


def test_a_current_bag_reads_the_same_with_either_store(tmp_path):
    from elf_ros.bag.messages import features_msg
    from elf_ros.bag.pack import image_message, write_bag
    from elf_ros.core import ElfResult

    result = ElfResult(np.zeros((2, 2), np.float32), np.ones(2, np.float32),
                       np.ones((2, 3), np.float32) / np.sqrt(3), None, 0.0,
                       sizes=np.full(2, 31, np.float32), angles=np.array([10, 350], np.float32))
    header = image_message(np.zeros((8, 8, 3), np.uint8), 'rgb8', 5).header
    write_bag(tmp_path / 'new', [('/f', 5, features_msg(elf_typestore(), header, 8, 8, result,
                                                        'b', 'l'))])
    with Reader(tmp_path / 'new') as reader:
        store = recorded_typestore(reader.connections)
        (conn, _, raw), = list(reader.messages())
        msg = store.deserialize_cdr(raw, conn.msgtype)
    np.testing.assert_array_equal(msg.angles, result.angles)
    np.testing.assert_array_equal(msg.sizes, result.sizes)

