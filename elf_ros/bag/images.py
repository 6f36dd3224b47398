"""
Recorded image messages (as `rosbags` deserialises them) to detector input.

Raw `sensor_msgs/Image` and `sensor_msgs/CompressedImage` go through the node's own decoders
(elf_ros.formats, free of ROS imports), so a bag and a live topic give the detector the same
pixels.
"""
from __future__ import annotations

import numpy as np

from elf_ros.bag.typestore import COMPRESSED_IMAGE
from elf_ros.formats.compressed import decode_compressed
from elf_ros.formats.images import ImageConversionError, to_detector_image

__all__ = ['ImageConversionError', 'decode_compressed', 'to_detector_input']


def to_detector_input(msg, msgtype: str) -> np.ndarray:
    """Detector input of a recorded Image or CompressedImage; ImageConversionError says why not."""
    if msgtype == COMPRESSED_IMAGE:
        return decode_compressed(msg)
    return to_detector_image(msg)
