"""
Building the node's output messages from detector results, fast.

rclpy checks every element when a numeric array field is given a list or numpy array; an
`array.array` built from bytes skips that (ros2-on-pip.md: ~36 ms -> ~1 ms for 2000x256).
Every output copies the source header, so consumers can pair them with ExactTime.
"""
from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import Image

from elf_ros.core import descriptor_codec, NOT_ESTIMATED_ANGLE, NOT_ESTIMATED_SIZE
from elf_ros.formats.images import fill_image_msg
from elf_ros.msg import DescriptorArray, Features, Keypoint, KeypointArray


def _or_default(values: np.ndarray | None, n: int, default: float) -> np.ndarray:
    """(N,) float32 values, or N times the 'not estimated' value when none are given."""
    if values is None:
        return np.full(n, default, np.float32)
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if len(values) != n:
        raise ValueError(f'{len(values)} values for {n} keypoints')
    return values


def keypoint_array(header, width: int, height: int, keypoints: np.ndarray,
                   scores: np.ndarray, sizes: np.ndarray | None = None,
                   angles: np.ndarray | None = None) -> KeypointArray:
    """
    KeypointArray for (N, 2) [x, y] keypoints and (N,) scores, in the given order.

    ``sizes``/``angles`` (N,) follow OpenCV's KeyPoint; None = not estimated (0 / -1).
    """
    msg = KeypointArray()
    msg.header = header
    msg.image_width = int(width)
    msg.image_height = int(height)
    n = len(scores)
    # One tolist() call turns float32 into Python floats far faster than per-element float().
    rows = np.column_stack((np.asarray(keypoints).reshape(-1, 2), scores,
                            _or_default(sizes, n, NOT_ESTIMATED_SIZE),
                            _or_default(angles, n, NOT_ESTIMATED_ANGLE))
                           ).astype(np.float64).tolist()
    msg.keypoints = [Keypoint(x=x, y=y, score=s, size=z, angle=a) for x, y, s, z, a in rows]
    return msg


def descriptor_array(header, descriptors: np.ndarray, backbone: str,
                     layer: str) -> DescriptorArray:
    """DescriptorArray holding (N, D) float32 rows, row-major."""
    desc = np.ascontiguousarray(descriptors, dtype=np.float32)
    msg = DescriptorArray()
    msg.header = header
    msg.backbone = backbone
    msg.layer = layer
    msg.rows = int(desc.shape[0])
    msg.cols = int(desc.shape[1]) if desc.ndim == 2 else 0
    data = array.array('f')
    data.frombytes(desc.tobytes())
    msg.data = data
    return msg


def _float_array(values: np.ndarray) -> array.array:
    data = array.array('f')
    data.frombytes(np.ascontiguousarray(values, dtype='<f4').tobytes())
    return data


def features(header, width: int, height: int, keypoints: np.ndarray, scores: np.ndarray,
             descriptors: np.ndarray, backbone: str, layer: str,
             descriptor_format: str = 'float32', sizes: np.ndarray | None = None,
             angles: np.ndarray | None = None) -> Features:
    """
    One Features message: flat keypoints/scores and a descriptor payload in the given format.

    ``sizes``/``angles`` (N,) follow OpenCV's KeyPoint; None = not estimated (0 / -1 each).

    Every numeric field is filled from bytes (array.array / bytes), never element by element.
    """
    desc = np.ascontiguousarray(descriptors, dtype=np.float32)
    fmt = descriptor_codec.check_format(descriptor_format)
    msg = Features()
    msg.header = header
    msg.image_width = int(width)
    msg.image_height = int(height)
    msg.keypoints = _float_array(keypoints)
    msg.scores = _float_array(scores)
    msg.sizes = _float_array(_or_default(sizes, len(scores), NOT_ESTIMATED_SIZE))
    msg.angles = _float_array(_or_default(angles, len(scores), NOT_ESTIMATED_ANGLE))
    msg.backbone = backbone
    msg.layer = layer
    msg.descriptor_length = int(desc.shape[1]) if desc.ndim == 2 else 0
    msg.descriptor_format = descriptor_codec.format_code(fmt)
    payload, scale = descriptor_codec.encode(desc, fmt)
    if fmt == 'float32':
        data = array.array('f')
        data.frombytes(payload)
        msg.descriptors = data
    else:
        data = array.array('B')
        data.frombytes(payload)
        msg.descriptor_bytes = data
        msg.descriptor_scale = float(scale)
    return msg


def features_from_msg(msg: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    (N, 2) keypoints, (N,) scores and (N, D) float32 descriptors of a Features message.

    float16 payloads are widened, uint8 codes dequantised: ``v = (q - 128) / descriptor_scale``.
    """
    keypoints = np.frombuffer(msg.keypoints, dtype=np.float32).reshape(-1, 2)
    scores = np.frombuffer(msg.scores, dtype=np.float32)
    return keypoints.copy(), scores.copy(), descriptor_codec.decode_features(msg)


def sizes_angles_from_msg(msg: Features | KeypointArray) -> tuple[np.ndarray, np.ndarray]:
    """
    (N,) sizes and (N,) angles of a Features or KeypointArray message, as float32.

    Empty arrays in a Features message (an older producer) read as not estimated (0 / -1).
    """
    if isinstance(msg, KeypointArray):
        values = np.array([(k.size, k.angle) for k in msg.keypoints], np.float32).reshape(-1, 2)
        return values[:, 0].copy(), values[:, 1].copy()
    n = len(msg.scores)
    sizes = np.frombuffer(msg.sizes, dtype=np.float32) if len(msg.sizes) else None
    angles = np.frombuffer(msg.angles, dtype=np.float32) if len(msg.angles) else None
    return (_or_default(sizes, n, NOT_ESTIMATED_SIZE).copy(),
            _or_default(angles, n, NOT_ESTIMATED_ANGLE).copy())


def descriptors_from_msg(msg: DescriptorArray) -> np.ndarray:
    """Return the (rows, cols) float32 matrix of a DescriptorArray (consumers, tests)."""
    return np.frombuffer(msg.data, dtype=np.float32).reshape(int(msg.rows), int(msg.cols))


def keypoints_from_msg(msg: KeypointArray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) [x, y] and (N,) scores of a KeypointArray, as float32."""
    values = np.array([(k.x, k.y, k.score) for k in msg.keypoints], dtype=np.float32)
    values = values.reshape(-1, 3)
    return values[:, :2], values[:, 2]


def colour_saliency(saliency: np.ndarray) -> np.ndarray:
    """
    RGB uint8 rendering of a saliency map for people (turbo: low blue, high red).

    ELF saliency is divided by its global maximum, so one bright spot leaves the rest of the
    map near zero; for display it is stretched to its 99.5th percentile instead.
    """
    top = float(np.percentile(saliency[::4, ::4], 99.5)) if saliency.size else 0.0
    grey = saliency_mono8(saliency / top if top > 0 else saliency)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """RGB uint8 copy of `image` (gray or RGB) with keypoints as circles coloured by score."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    radius = max(2, round(min(canvas.shape[:2]) / 120))
    thickness = 1 if radius < 4 else 2
    if len(scores):
        colours = cv2.applyColorMap(
            (np.clip(scores, 0, 1) * 255).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_TURBO)
        colours = colours.reshape(-1, 3)[:, ::-1]  # BGR -> RGB
        centres = np.rint(keypoints).astype(int).tolist()
        for (x, y), colour in zip(centres, colours.tolist(), strict=True):
            cv2.circle(canvas, (x, y), radius, colour, thickness, cv2.LINE_AA)
    return canvas


def image_msg(header, pixels: np.ndarray, encoding: str) -> Image:
    """sensor_msgs/Image with the given header around packed uint8 pixels."""
    msg = Image()
    msg.header = header
    return fill_image_msg(msg, pixels, encoding)


def saliency_mono8(saliency: np.ndarray) -> np.ndarray:
    """Saliency in [0, 1] as uint8 grey levels (x255, truncated as in the official code)."""
    return np.clip(saliency * 255.0, 0, 255).astype(np.uint8)
