"""
Recorded image messages (as `rosbags` deserialises them) to detector input.

Raw `sensor_msgs/Image` goes through the node's own converter (elf_ros.ros.image_conversion,
free of ROS imports), so a bag and a live topic give the detector the same pixels.
`sensor_msgs/CompressedImage` (jpeg, png, and image_transport's "<enc>; <codec> compressed
<enc>" strings) is decoded with OpenCV, which always yields gray or BGR(A) order.
"""
from __future__ import annotations

import cv2
import numpy as np

from elf_ros.bag.typestore import COMPRESSED_IMAGE
from elf_ros.ros.image_conversion import ImageConversionError, to_detector_image, to_uint8

__all__ = ['ImageConversionError', 'decode_compressed', 'to_detector_input']


def decode_compressed(msg) -> np.ndarray:
    """Pixels of a CompressedImage as uint8 gray (H, W) or RGB (H, W, 3)."""
    fmt = str(msg.format).strip()
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        # compressed_depth_image_transport prepends its own header to the PNG payload.
        raise ImageConversionError(f'unsupported CompressedImage format {fmt!r} (compressedDepth)')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError('empty CompressedImage')
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageConversionError(f'OpenCV cannot decode this CompressedImage (format {fmt!r})')
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    elif pixels.ndim == 3:
        pixels = pixels[..., 0]
    return to_uint8(pixels)


def to_detector_input(msg, msgtype: str) -> np.ndarray:
    """Detector input of a recorded Image or CompressedImage; ImageConversionError says why not."""
    if msgtype == COMPRESSED_IMAGE:
        return decode_compressed(msg)
    return to_detector_image(msg)
