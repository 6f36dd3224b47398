"""
The columns of the sensor_msgs/PointCloud that VINS-Mono / VINS-Fusion's estimator reads.

One source of truth for the node (ros/tracker.py) and elf-bag (bag/), without ROS types: the
callers wrap these arrays into their message classes. What the estimators read (their
``feature_callback``): ``points[i]`` = (x, y, 1) undistorted normalised coordinates (they assert
z == 1), and per point, as float32 channels:

- VINS-Fusion: ``[feature id, camera id, u, v, velocity_x, velocity_y]``, then three zero
  channels: its ``feature_callback`` (vins_estimator/src/rosNodeTest.cpp) reads channels 6-8 as a
  simulation's ground-truth point whenever ``channels.size() > 5``, i.e. for any message with the
  six documented channels, out of bounds unless they exist (undefined behaviour in C++).
- VINS-Mono: ``[feature id * NUM_OF_CAM + camera id, u, v, velocity_x, velocity_y]``
  (the estimator decodes ``int(value + 0.5)`` with ``/`` and ``%`` by NUM_OF_CAM).

u, v are the feature's pixel position; velocities are in normalised units per second. The ids
travel as float32, which holds every integer exactly up to 2**24 (16.7 million).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elf_ros.core.tracking import TrackFrame

VINS_LAYOUTS = ('fusion', 'mono')
FUSION_CHANNELS = ('id_of_point', 'camera_id', 'u_of_point', 'v_of_point',
                   'velocity_x_of_point', 'velocity_y_of_point',
                   'ground_truth_x', 'ground_truth_y', 'ground_truth_z')  # zeros, see above
MONO_CHANNELS = ('id_of_point', 'u_of_point', 'v_of_point', 'velocity_x_of_point',
                 'velocity_y_of_point')
FLOAT32_EXACT_IDS = 2 ** 24


@dataclass
class VinsColumns:
    """points (M, 3) float32 with z = 1, and one float32 (M,) array per named channel."""

    points: np.ndarray
    names: tuple[str, ...]
    channels: np.ndarray        # (C, M) float32, row c = channel names[c]


def vins_columns(frame: TrackFrame, layout: str = 'fusion', camera_id: int = 0,
                 num_cameras: int = 1) -> VinsColumns:
    """Return the PointCloud content of one tracked frame in the chosen estimator's layout."""
    if layout not in VINS_LAYOUTS:
        raise ValueError(f'layout must be one of {", ".join(VINS_LAYOUTS)}, got {layout!r}')
    if num_cameras < 1 or not 0 <= camera_id < num_cameras:
        raise ValueError(f'camera_id must be in [0, num_cameras), got {camera_id} of '
                         f'{num_cameras}')
    m = len(frame)
    points = np.ones((m, 3), np.float32)
    points[:, :2] = frame.normalised
    uv_vel = [frame.pixels[:, 0], frame.pixels[:, 1], frame.velocities[:, 0],
              frame.velocities[:, 1]]
    if layout == 'fusion':
        rows = [frame.ids, np.full(m, camera_id), *uv_vel, *np.zeros((3, m))]
        names = FUSION_CHANNELS
    else:
        rows = [frame.ids * num_cameras + camera_id, *uv_vel]
        names = MONO_CHANNELS
    channels = np.array(rows, dtype=np.float32).reshape(len(names), m)
    return VinsColumns(points, names, channels)


def ids_exact(frame: TrackFrame, layout: str = 'fusion', num_cameras: int = 1) -> bool:
    """Say whether float32 still holds the encoded ids exactly (the caller warns if not)."""
    if len(frame) == 0:
        return True
    top = int(frame.ids.max()) * (num_cameras if layout == 'mono' else 1) + num_cameras
    return top < FLOAT32_EXACT_IDS
