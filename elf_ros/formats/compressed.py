"""
sensor_msgs/CompressedImage to detector input: one decoder for the node and the bag tool.

Formats: jpeg, png, and image_transport's "<enc>; <codec> compressed <enc>" strings. OpenCV
decodes the payload (always gray or BGR(A) order); the result is what
`images.to_detector_image` gives for a raw Image: uint8 gray (H, W) or RGB (H, W, 3), 16-bit
PNGs stretched to their own range like mono16.
"""
from __future__ import annotations

import cv2
import numpy as np

from elf_ros.formats.images import ImageConversionError, to_uint8


def decode_compressed(msg) -> np.ndarray:
    """Pixels of a CompressedImage as uint8 gray (H, W) or RGB (H, W, 3); refusals say why."""
    fmt = str(msg.format).strip()
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        # compressed_depth_image_transport prepends its own header to the PNG payload.
        raise ImageConversionError(f'unsupported CompressedImage format {fmt!r} (compressedDepth)')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f'empty compressed image (format {fmt!r})')
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageConversionError(
            f'cannot decode {data.size} B of compressed data (format {fmt!r}); '
            'jpeg and png are supported')
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    elif pixels.ndim == 3:
        pixels = pixels[..., 0]
    return to_uint8(pixels)
