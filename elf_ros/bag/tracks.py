"""
`elf-bag process --outputs tracks`: VINS feature tracks (sensor_msgs/PointCloud) per frame.

The same track manager as elf_tracker (elf_ros/core/tracking.py), fed with each frame's
features and image, so a recording can be replayed into VINS-Mono/Fusion with `ros2 bag play`
(remap `<camera>/feature_tracks` to `/feature_tracker/feature`). The calibration comes from the
camera's `camera_info` topic in the bag (the image topic's sibling); a bag without it is refused:
normalised coordinates cannot be made from raw pixels.
"""
from __future__ import annotations

import numpy as np

from elf_ros.bag.naming import image_base
from elf_ros.bag.reader import BagError, ImageTopic
from elf_ros.bag.typestore import elf_typestore
from elf_ros.core import (
    CameraModel,
    CameraModelError,
    TrackerConfig,
    TrackFrame,
    TrackManager,
    vins_columns,
)
from elf_ros.formats.topics import sibling

CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
POINT_CLOUD = 'sensor_msgs/msg/PointCloud'


def camera_info_topic(topic: ImageTopic) -> str:
    return sibling(image_base(topic.name, topic.msgtype), 'camera_info')


def camera_models(reader, topics: dict[str, ImageTopic]) -> dict[str, CameraModel]:
    """Read the first CameraInfo of each image topic's camera_info sibling (BagError if none)."""
    store = elf_typestore()
    models = {}
    for name, topic in topics.items():
        info_topic = camera_info_topic(topic)
        info = reader.topics.get(info_topic)
        if info is None or info.msgtype != CAMERA_INFO or not info.msgcount:
            raise BagError(f'--outputs tracks needs the calibration of {name}: no '
                           f'sensor_msgs/CameraInfo messages on {info_topic} in the bag (raw '
                           'pixel coordinates are not passed off as normalised ones)')
        conn, _, raw = next(iter(reader.messages(connections=list(info.connections))))
        msg = store.deserialize_cdr(raw, conn.msgtype)
        try:
            models[name] = CameraModel.from_camera_info(msg.k, msg.d, msg.distortion_model)
        except CameraModelError as err:
            raise BagError(f'{info_topic}: {err}') from None
    return models


def trackers(models: dict[str, CameraModel]) -> dict[str, TrackManager]:
    return {name: TrackManager(model, TrackerConfig()) for name, model in models.items()}


def stamp_seconds(header) -> float:
    return header.stamp.sec + 1e-9 * header.stamp.nanosec


def pointcloud_msg(store, header, frame: TrackFrame, layout: str = 'fusion'):
    """sensor_msgs/msg/PointCloud of one tracked frame, as elf_tracker publishes it."""
    columns = vins_columns(frame, layout)
    point = store.types['geometry_msgs/msg/Point32']
    channel = store.types['sensor_msgs/msg/ChannelFloat32']
    return store.types[POINT_CLOUD](
        header=header,
        points=[point(x=x, y=y, z=z) for x, y, z in columns.points.tolist()],
        channels=[channel(name=name, values=np.ascontiguousarray(values, np.float32))
                  for name, values in zip(columns.names, columns.channels, strict=True)])
