"""The one CompressedImage decoder (node and elf-bag): lossless round trips and clear refusals."""
import cv2
import numpy as np
import pytest

from elf_ros.formats.compressed import decode_compressed
from elf_ros.formats.images import ImageConversionError


def message(fmt: str, data: bytes):
    """Build a sensor_msgs/CompressedImage as elf-bag reads it (rosbags' class; no ROS needed)."""
    typesys = pytest.importorskip('rosbags.typesys', reason='rosbags is not installed')
    store = typesys.get_typestore(typesys.Stores.ROS2_KILTED)
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='')
    return store.types['sensor_msgs/msg/CompressedImage'](
        header=header, format=fmt, data=np.frombuffer(data, np.uint8))


def compressed(pixels: np.ndarray, fmt: str = 'png'):
    """`pixels` PNG-encoded by OpenCV (lossless) in a CompressedImage."""
    ok, data = cv2.imencode('.png', pixels)
    assert ok
    return message(fmt, data.tobytes())


def test_png_colour_comes_back_as_rgb():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    out = decode_compressed(compressed(bgr, 'bgr8; png compressed bgr8'))
    np.testing.assert_array_equal(out, rgb)


def test_png_gray_and_alpha():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (8, 9), dtype=np.uint8)
    np.testing.assert_array_equal(decode_compressed(compressed(gray)), gray)
    bgra = rng.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    np.testing.assert_array_equal(decode_compressed(compressed(bgra)),
                                  bgra[..., 2::-1])  # alpha dropped, RGB order


def test_16_bit_png_is_stretched_to_its_range():
    depth = np.array([[1000, 1800], [3000, 1000]], dtype=np.uint16)
    out = decode_compressed(compressed(depth))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 102], [255, 0]])  # 800 / 2000 x 255 = 102


@pytest.mark.parametrize('fmt, data, reason', [
    ('16UC1; compressedDepth png', b'x' * 20, 'compressedDepth'),
    ('jpeg', b'', 'empty compressed image'),
    ('jpeg', b'not an image at all', 'cannot decode 19 B'),
])
def test_refusals_say_why(fmt, data, reason):
    with pytest.raises(ImageConversionError, match=reason):
        decode_compressed(message(fmt, data))
