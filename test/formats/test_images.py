"""
Image conversion: every encoding a camera driver publishes, padding, byte order, refusals.

The converter reads messages by field name; every test runs with rosbags' sensor_msgs/Image
(what elf-bag feeds it, no ROS needed) and with rclpy's (what the node gets) where installed.
"""
import numpy as np
import pytest

from elf_ros.formats.images import (
    decode_image,
    encode_rgb,
    image_from_rgb,
    ImageConversionError,
    LAYOUTS,
    to_detector_image,
)


def _rosbags_image_class():
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_KILTED)
    image = store.types['sensor_msgs/msg/Image']
    header = store.types['std_msgs/msg/Header']
    time = store.types['builtin_interfaces/msg/Time']

    def make(**fields):
        blank = dict(header=header(stamp=time(sec=0, nanosec=0), frame_id=''), height=0,
                     width=0, encoding='', is_bigendian=0, step=0, data=np.zeros(0, np.uint8))
        return image(**{**blank, **fields})
    return make


def _rclpy_image_class():
    from sensor_msgs.msg import Image as RosImage
    return RosImage


Image = None  # the message class under test, set by the fixture below


@pytest.fixture(autouse=True, params=['rosbags', 'rclpy'])
def image_class(request):
    """Run each test with rosbags' and rclpy's sensor_msgs/Image (skipped where absent)."""
    global Image
    try:
        Image = _rosbags_image_class() if request.param == 'rosbags' else _rclpy_image_class()
    except ImportError as err:
        pytest.skip(f'{request.param} messages not installed: {err}')
    yield
    Image = None


COLOUR = [e for e, lay in LAYOUTS.items() if lay.kind != 'mono']
MONO = [e for e, lay in LAYOUTS.items() if lay.kind == 'mono']


def smooth_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """Make a smooth colour image: demosaicing and 4:2:2 chroma are near-exact on it."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([40 + 3 * x, 200 - 2 * y, 90 + x + y], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def message(rgb: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False) -> Image:
    return image_from_rgb(Image(), rgb, encoding, padding, big_endian)


@pytest.mark.parametrize('padding', [0, 13])
@pytest.mark.parametrize('encoding', COLOUR)
def test_colour_encodings_come_out_as_the_rgb_image(encoding, padding):
    rgb = smooth_rgb()
    out = to_detector_image(message(rgb, encoding, padding))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    if LAYOUTS[encoding].depth == 2:  # 16-bit frames are stretched to their own range
        low, high = int(rgb.min()), int(rgb.max())
        rgb = np.rint((rgb.astype(float) - low) * 255 / (high - low)).astype(np.uint8)
    # Bayer interpolation and YUV 4:2:2 chroma sharing are lossy; the rest is exact.
    lossy = encoding.startswith('bayer') or LAYOUTS[encoding].kind in ('uyvy', 'yuyv')
    inner = (slice(2, -2), slice(2, -2))
    error = np.abs(out[inner].astype(int) - rgb[inner]).max()
    assert error <= (6 if lossy else 1), f'{encoding}: max error {error}'


@pytest.mark.parametrize('big_endian', [False, True])
@pytest.mark.parametrize('encoding', MONO)
def test_mono_encodings_give_gray(encoding, big_endian):
    rgb = smooth_rgb()
    gray = to_detector_image(message(rgb, encoding, 7, big_endian))
    assert gray.ndim == 2 and gray.dtype == np.uint8
    # 16-bit frames are stretched to their own range, so compare shapes of the signal.
    expected = decode_image(message(rgb, 'mono8')).astype(float)
    corr = np.corrcoef(gray.ravel(), expected.ravel())[0, 1]
    assert corr > 0.999


def test_byte_order_is_honoured():
    values = np.array([[1, 258, 65535, 4096]], dtype=np.uint16)
    for big in (False, True):
        msg = Image(height=1, width=4, encoding='mono16', is_bigendian=big, step=8)
        msg.data = values.astype('>u2' if big else '<u2').tobytes()
        np.testing.assert_array_equal(decode_image(msg), values)


def test_padding_bytes_are_skipped_not_read_as_pixels():
    rgb = smooth_rgb(5, 7)
    data, step = encode_rgb(rgb, 'rgb8', padding=3)
    assert step == 7 * 3 + 3 and len(data) == 5 * step
    np.testing.assert_array_equal(decode_image(message(rgb, 'rgb8', 3)), rgb)


def test_bayer_patterns_give_the_right_colours():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (200, 100, 30)
    for pattern in ('rggb', 'bggr', 'gbrg', 'grbg'):
        out = to_detector_image(message(rgb, f'bayer_{pattern}8'))
        np.testing.assert_array_equal(out[8, 8], (200, 100, 30), err_msg=pattern)


def test_yuv422_byte_layouts_differ_as_documented():
    # ROS yuv422 is UYVY: U Y0 V Y1. White (Y=235, U=V=128 in limited range) only decodes as
    # white when the luma bytes are read from the odd positions.
    uyvy = np.tile(np.array([128, 235, 128, 235], np.uint8), (2, 2))
    msg = Image(height=2, width=4, encoding='yuv422', step=8)
    msg.data = uyvy.tobytes()
    assert to_detector_image(msg).min() >= 250
    msg.encoding = 'yuv422_yuy2'  # the same bytes as YUYV are a saturated colour, not grey
    assert np.ptp(to_detector_image(msg)[0, 0].astype(int)) > 100


@pytest.mark.parametrize('build, reason', [
    (lambda: Image(height=4, width=4, encoding='32FC1', step=16, data=bytes(64)),
     'unsupported encoding'),
    (lambda: Image(height=4, width=4, encoding='rgb8', step=12, data=bytes(40)),
     'less than step x height'),
    (lambda: Image(height=0, width=0, encoding='rgb8', step=0), 'empty image'),
    (lambda: Image(height=4, width=4, encoding='rgb8', step=8, data=bytes(64)),
     'step 8 is shorter than a row'),
    (lambda: Image(height=2, width=3, encoding='yuyv', step=6, data=bytes(12)), 'even width'),
])
def test_malformed_messages_are_refused_with_the_reason(build, reason):
    with pytest.raises(ImageConversionError, match=reason):
        to_detector_image(build())


def test_one_pixel_image_converts():
    out = to_detector_image(message(np.full((1, 1, 3), 7, np.uint8), 'bgr8'))
    assert out.shape == (1, 1, 3) and out[0, 0, 0] == 7


def test_agrees_with_cv_bridge_where_installed():
    cv_bridge = pytest.importorskip(
        'cv_bridge', reason='cv_bridge is not installed (not on PyPI); real ROS installs have it')
    bridge = cv_bridge.CvBridge()
    rgb = smooth_rgb()
    for encoding in ('mono8', 'mono16', 'rgb8', 'bgr8', 'rgba8', 'bgra8', 'bayer_rggb8',
                     'yuv422'):
        msg = message(rgb, encoding)  # unpadded: cv_bridge's Python side ignores padding
        np.testing.assert_array_equal(
            decode_image(msg), bridge.imgmsg_to_cv2(msg, 'passthrough'), err_msg=encoding)
