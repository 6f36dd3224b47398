"""
sensor_msgs/Image <-> numpy without cv_bridge.

cv_bridge is not on PyPI and its Python side ignores row padding (`step`), so the node decodes
messages itself. `decode_image` gives the same array cv_bridge's `imgmsg_to_cv2(msg,
'passthrough')` gives for well-formed messages (native channel order and depth), but honours
`step` and `is_bigendian`; `to_detector_image` turns that into what the detector takes (uint8
gray or RGB). Every refusal raises `ImageConversionError` with a reason a user can act on.
`encode_rgb` is the reverse (any supported encoding, optional row padding and byte order), for
the replay publisher, the benchmark and the tests.
"""
from __future__ import annotations

import array
from dataclasses import dataclass

import cv2
import numpy as np


class ImageConversionError(ValueError):
    """A message that cannot be turned into an image; the text says why."""


@dataclass(frozen=True)
class PixelLayout:
    """How one encoding stores a pixel: channels per pixel, bytes per channel, and its kind."""

    channels: int
    depth: int  # bytes per channel: 1 or 2
    kind: str   # mono | rgb | bgr | rgba | bgra | bayer_<pattern> | uyvy | yuyv


# Names as in sensor_msgs/image_encodings (yuv422 is UYVY there; uyvy/yuyv are Kilted's aliases).
LAYOUTS: dict[str, PixelLayout] = {
    'mono8': PixelLayout(1, 1, 'mono'),
    '8UC1': PixelLayout(1, 1, 'mono'),
    'mono16': PixelLayout(1, 2, 'mono'),
    '16UC1': PixelLayout(1, 2, 'mono'),
    'rgb8': PixelLayout(3, 1, 'rgb'),
    'bgr8': PixelLayout(3, 1, 'bgr'),
    '8UC3': PixelLayout(3, 1, 'bgr'),
    'rgba8': PixelLayout(4, 1, 'rgba'),
    'bgra8': PixelLayout(4, 1, 'bgra'),
    '8UC4': PixelLayout(4, 1, 'bgra'),
    'rgb16': PixelLayout(3, 2, 'rgb'),
    'bgr16': PixelLayout(3, 2, 'bgr'),
    'rgba16': PixelLayout(4, 2, 'rgba'),
    'bgra16': PixelLayout(4, 2, 'bgra'),
    'yuv422': PixelLayout(2, 1, 'uyvy'),
    'uyvy': PixelLayout(2, 1, 'uyvy'),
    'yuv422_yuy2': PixelLayout(2, 1, 'yuyv'),
    'yuyv': PixelLayout(2, 1, 'yuyv'),
}
for _pattern in ('rggb', 'bggr', 'gbrg', 'grbg'):
    LAYOUTS[f'bayer_{_pattern}8'] = PixelLayout(1, 1, f'bayer_{_pattern}')
    LAYOUTS[f'bayer_{_pattern}16'] = PixelLayout(1, 2, f'bayer_{_pattern}')

SUPPORTED_ENCODINGS = tuple(LAYOUTS)

# OpenCV names Bayer patterns by the second row's first two pixels, so ROS rggb is OpenCV BG
# (the classic names exist in every OpenCV version; tests check the colours come out right).
_BAYER_TO_RGB = {
    'bayer_rggb': cv2.COLOR_BayerBG2RGB,
    'bayer_bggr': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg': cv2.COLOR_BayerGR2RGB,
    'bayer_grbg': cv2.COLOR_BayerGB2RGB,
}
_FROM_RGB = {
    'bgr': cv2.COLOR_RGB2BGR,
    'rgba': cv2.COLOR_RGB2RGBA,
    'bgra': cv2.COLOR_RGB2BGRA,
    # Only in OpenCV >= 4.7; needed by encode_rgb alone (decoding works with any version).
    'uyvy': getattr(cv2, 'COLOR_RGB2YUV_UYVY', None),
    'yuyv': getattr(cv2, 'COLOR_RGB2YUV_YUYV', None),
    'mono': cv2.COLOR_RGB2GRAY,
}
_TO_RGB = {
    'bgr': cv2.COLOR_BGR2RGB,
    'rgba': cv2.COLOR_RGBA2RGB,
    'bgra': cv2.COLOR_BGRA2RGB,
    'uyvy': cv2.COLOR_YUV2RGB_UYVY,
    'yuyv': cv2.COLOR_YUV2RGB_YUYV,
}


def layout_of(encoding: str) -> PixelLayout:
    """Look up the pixel layout of an encoding; the error names the supported ones."""
    try:
        return LAYOUTS[encoding]
    except KeyError:
        raise ImageConversionError(
            f'unsupported encoding {encoding!r}; supported: {", ".join(SUPPORTED_ENCODINGS)}'
        ) from None


def decode_image(msg) -> np.ndarray:
    """
    Pixels of a sensor_msgs/Image as (H, W) or (H, W, C), in the message's own layout.

    Rows are read `step` bytes apart (padding skipped), 16-bit data in the byte order given by
    `is_bigendian`, returned in native byte order. Unpadded 8-bit data may be returned as a
    view of `msg.data` (no copy); keep the message alive while the array is used.
    """
    layout = layout_of(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f'empty image ({width}x{height})')
    if layout.kind in ('uyvy', 'yuyv') and width % 2:
        raise ImageConversionError(f'{msg.encoding} needs an even width, got {width}')
    row_bytes = width * layout.channels * layout.depth
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is shorter than a row of {width} px of {msg.encoding} ({row_bytes} B)')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise ImageConversionError(
            f'data has {data.size} B, less than step x height = {step} x {height}')
    rows = data[:step * height].reshape(height, step)[:, :row_bytes]
    if layout.depth == 2:
        rows = rows.view('>u2' if msg.is_bigendian else '<u2')
        pixels = rows.astype(np.uint16)  # native order, contiguous copy
    else:
        pixels = np.ascontiguousarray(rows)
    if layout.channels == 1:
        return pixels.reshape(height, width)
    return pixels.reshape(height, width, layout.channels)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """
    Bring 16-bit pixels to 8 bits by stretching the frame's own range to 0..255.

    A plain `>> 8` would leave 10/12-bit cameras and depth-like mono16 nearly black. The
    stretch follows each frame's range: harmless with per-image standardisation (the Lite0
    preset), a per-frame gain change with the ImageNet normalisation of vgg16/alexnet.
    """
    if pixels.dtype == np.uint8:
        return pixels
    return cv2.normalize(pixels, None, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)


def to_detector_image(msg) -> np.ndarray:
    """Convert to what the detector takes: uint8 gray (H, W) or uint8 RGB (H, W, 3)."""
    layout = layout_of(msg.encoding)
    pixels = decode_image(msg)
    if layout.kind.startswith('bayer_'):
        pixels = cv2.cvtColor(pixels, _BAYER_TO_RGB[layout.kind])
    elif layout.kind not in ('mono', 'rgb'):
        pixels = cv2.cvtColor(pixels, _TO_RGB[layout.kind])
    # Reduce depth last: demosaicing keeps 16-bit precision and alpha stays out of the range.
    return to_uint8(pixels)


def fill_image_msg(msg, pixels: np.ndarray, encoding: str):
    """Fill a sensor_msgs/Image from a uint8 array (packed rows, no padding); returns `msg`."""
    if pixels.dtype != np.uint8:
        raise ValueError(f'expected uint8 pixels, got {pixels.dtype}')
    pixels = np.ascontiguousarray(pixels)
    return _set_image(msg, pixels.shape[0], pixels.shape[1], encoding, pixels.strides[0],
                      pixels.data, False)


def _set_image(msg, height: int, width: int, encoding: str, step: int, data,
               big_endian: bool):
    """
    Set every Image field; data go in as one array.array('B') built from bytes.

    Assigning a numpy array or a list instead would make rclpy check every element.
    """
    msg.height, msg.width = int(height), int(width)
    msg.encoding = encoding
    msg.is_bigendian = int(big_endian)
    msg.step = int(step)
    buf = array.array('B')
    buf.frombytes(data)
    msg.data = buf
    return msg


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Sample an RGB image through a Bayer colour filter `pattern` (e.g. 'rggb', row-major 2x2)."""
    channel = {'r': 0, 'g': 1, 'b': 2}
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for i, colour in enumerate(pattern):
        dy, dx = divmod(i, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return out


def encode_rgb(rgb: np.ndarray, encoding: str, padding: int = 0,
               big_endian: bool = False) -> tuple[bytes, int]:
    """
    Pack an RGB uint8 image as `encoding`: (data, step) with `padding` junk bytes per row.

    16-bit encodings scale 0..255 to 0..65535 (x257), in the byte order `big_endian` asks for.
    """
    layout = layout_of(encoding)
    if layout.kind.startswith('bayer_'):
        pixels = _mosaic(rgb, layout.kind[len('bayer_'):])
    elif layout.kind == 'rgb':
        pixels = rgb
    elif _FROM_RGB[layout.kind] is None:
        raise ImageConversionError(f'this OpenCV ({cv2.__version__}) cannot encode {encoding}')
    else:
        pixels = cv2.cvtColor(np.ascontiguousarray(rgb), _FROM_RGB[layout.kind])
    if layout.depth == 2:
        pixels = (pixels.astype(np.uint32) * 257).astype('>u2' if big_endian else '<u2')
    rows = np.ascontiguousarray(pixels).reshape(rgb.shape[0], -1).view(np.uint8)
    if padding:
        junk = np.full((rows.shape[0], padding), 0xAB, dtype=np.uint8)
        rows = np.hstack((rows, junk))
    return rows.tobytes(), rows.shape[1]


def image_from_rgb(msg, rgb: np.ndarray, encoding: str, padding: int = 0,
                   big_endian: bool = False):
    """Fill a sensor_msgs/Image with an RGB frame packed as `encoding`; returns `msg`."""
    data, step = encode_rgb(rgb, encoding, padding, big_endian)
    return _set_image(msg, rgb.shape[0], rgb.shape[1], encoding, step, data, big_endian)

