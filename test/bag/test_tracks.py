"""`elf-bag process --outputs tracks`: VINS feature tracks written into the output bag."""
from __future__ import annotations

import contextlib
import io

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from elf_ros.bag.cli import main
from elf_ros.bag.pack import image_message, write_bag
from elf_ros.bag.typestore import elf_typestore
from elf_ros.core import FUSION_CHANNELS

from .bagdata import FAST, rgb, T0

K = np.array([[520.9, 0, 325.1], [0, 521.0, 249.7], [0, 0, 1]])   # TUM fr2
D = np.array([0.2312, -0.7849, -0.0033, -0.0001, 0.9172])


def camera_info_msg(stamp_ns: int):
    store = elf_typestore()
    header = image_message(np.zeros((2, 2, 3), np.uint8), 'rgb8', stamp_ns, 'cam').header
    return store.types['sensor_msgs/msg/CameraInfo'](
        header=header, height=480, width=640, distortion_model='plumb_bob', d=D.copy(),
        k=K.ravel().copy(), r=np.eye(3).ravel(), p=np.hstack([K, np.zeros((3, 1))]).ravel(),
        binning_x=0, binning_y=0,
        roi=store.types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def make_bag(path, with_info: bool = True) -> list[int]:
    records, stamps = [], []
    if with_info:
        records.append(('/cam/camera_info', T0 - 1, camera_info_msg(T0)))
    for i in range(5):
        stamp = T0 + i * 100_000_000
        stamps.append(stamp)
        records.append(('/cam/image_raw', stamp + 1000, image_message(rgb(i), 'rgb8', stamp,
                                                                      'cam_optical')))
    write_bag(path, records, 'mcap')
    return stamps


def run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


def test_tracks_are_written_per_frame_with_the_source_header(tmp_path):
    stamps = make_bag(tmp_path / 'in')
    code, err = run(['process', str(tmp_path / 'in'), str(tmp_path / 'out'), *FAST,
                     '--topics', '/cam/image_raw', '--outputs', 'features', 'tracks',
                     '--no-progress'])
    assert code == 0, err
    store = elf_typestore()
    clouds = []
    with Reader(tmp_path / 'out') as reader:
        assert reader.topics['/cam/feature_tracks'].msgtype == 'sensor_msgs/msg/PointCloud'
        for conn, _, raw in reader.messages():
            if conn.topic == '/cam/feature_tracks':
                clouds.append(store.deserialize_cdr(raw, conn.msgtype))
    assert [c.header.stamp.sec * 10**9 + c.header.stamp.nanosec for c in clouds] == stamps
    for cloud in clouds:
        assert cloud.header.frame_id == 'cam_optical'
        assert tuple(c.name for c in cloud.channels) == FUSION_CHANNELS
        xyz = np.array([[p.x, p.y, p.z] for p in cloud.points])
        ids = cloud.channels[0].values.astype(int)
        uv = np.column_stack((cloud.channels[2].values, cloud.channels[3].values))
        assert len(ids) > 0 and (xyz[:, 2] == 1).all()
        # Independent reference: OpenCV's undistortion with the bag's calibration.
        ref = cv2.undistortPoints(uv.reshape(-1, 1, 2).astype(np.float64), K, D,
                                  criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS,
                                            100, 1e-12)).reshape(-1, 2)
        np.testing.assert_allclose(xyz[:, :2], ref, atol=1e-5)
    kept = set(clouds[0].channels[0].values.astype(int)) & set(
        clouds[1].channels[0].values.astype(int))
    assert kept                                    # some ids persist from frame to frame


def test_a_bag_without_camera_info_is_refused_for_tracks(tmp_path):
    make_bag(tmp_path / 'in', with_info=False)
    code, err = run(['process', str(tmp_path / 'in'), str(tmp_path / 'out'), *FAST,
                     '--outputs', 'tracks', '--no-progress'])
    assert code == 2
    assert '/cam/camera_info' in err and 'not passed off' in err
    assert not (tmp_path / 'out').exists()


@pytest.mark.ros
def test_rclpy_reads_the_pointcloud(tmp_path):
    pytest.importorskip('elf_ros.msg', reason='needs the built messages')
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import PointCloud

    make_bag(tmp_path / 'in')
    assert run(['process', str(tmp_path / 'in'), str(tmp_path / 'out'), *FAST,
                '--topics', '/cam/image_raw', '--outputs', 'tracks', '--no-progress'])[0] == 0
    store = elf_typestore()
    with Reader(tmp_path / 'out') as reader:
        for conn, _, raw in reader.messages():
            ours = store.deserialize_cdr(raw, conn.msgtype)
            theirs = deserialize_message(raw, PointCloud)
            assert [c.name for c in theirs.channels] == list(FUSION_CHANNELS)
            np.testing.assert_array_equal(np.asarray(theirs.channels[0].values),
                                          ours.channels[0].values)
            assert [p.x for p in theirs.points] == pytest.approx([p.x for p in ours.points])
