"""
elf_ros output messages as `rosbags` objects, built from detector results.

Same content as the node's messages: the source header unchanged, keypoints in source pixels
sorted by score, descriptor rows L2-normalised. Numeric arrays stay numpy (rosbags serialises
them as one block), so building a message costs no Python object per keypoint or value.
"""
from __future__ import annotations

import numpy as np

from elf_ros.bag.typestore import DESCRIPTOR_ARRAY, FEATURES, KEYPOINT_ARRAY
from elf_ros.core import ElfResult

DESCRIPTOR_FORMATS = ('float32', 'float16', 'uint8')
UINT8_SCALE = 127.0  # L2-normalised values lie in [-1, 1]: codes 1..255, 128 = 0


def features_msg(store, header, width: int, height: int, result: ElfResult, backbone: str,
                 layer: str, descriptor_format: str = 'float32'):
    """elf_ros/msg/Features of one image (descriptors packed as `descriptor_format`)."""
    cls = store.types[FEATURES]
    desc = np.ascontiguousarray(result.descriptors, dtype=np.float32)
    empty_bytes = np.zeros(0, np.uint8)
    payload, raw, scale = desc.reshape(-1), empty_bytes, 0.0
    code = cls.FLOAT32
    if descriptor_format == 'float16':
        code, payload = cls.FLOAT16, np.zeros(0, np.float32)
        raw = desc.astype('<f2').reshape(-1).view(np.uint8)
    elif descriptor_format == 'uint8':
        code, payload, scale = cls.UINT8, np.zeros(0, np.float32), UINT8_SCALE
        raw = np.clip(np.rint(desc * UINT8_SCALE) + 128, 0, 255).astype(np.uint8).reshape(-1)
    elif descriptor_format != 'float32':
        raise ValueError(f'descriptor format: allowed {", ".join(DESCRIPTOR_FORMATS)}; '
                         f'got {descriptor_format!r}')
    return cls(
        header=header, image_width=int(width), image_height=int(height),
        keypoints=np.ascontiguousarray(result.keypoints, dtype=np.float32).reshape(-1),
        scores=np.ascontiguousarray(result.scores, dtype=np.float32),
        backbone=backbone, layer=layer,
        descriptor_length=int(desc.shape[1]) if desc.ndim == 2 else 0,
        descriptor_format=code, descriptors=payload, descriptor_bytes=raw,
        descriptor_scale=float(scale))


def keypoint_array_msg(store, header, width: int, height: int, result: ElfResult):
    """elf_ros/msg/KeypointArray (one Keypoint object per keypoint, as the type demands)."""
    keypoint = store.types['elf_ros/msg/Keypoint']
    rows = np.column_stack((result.keypoints, result.scores)).astype(np.float64).tolist()
    return store.types[KEYPOINT_ARRAY](
        header=header, image_width=int(width), image_height=int(height),
        keypoints=[keypoint(x=x, y=y, score=s) for x, y, s in rows])


def descriptor_array_msg(store, header, result: ElfResult, backbone: str, layer: str):
    """elf_ros/msg/DescriptorArray: (rows, cols) float32, row-major."""
    desc = np.ascontiguousarray(result.descriptors, dtype=np.float32)
    return store.types[DESCRIPTOR_ARRAY](
        header=header, backbone=backbone, layer=layer, rows=int(desc.shape[0]),
        cols=int(desc.shape[1]) if desc.ndim == 2 else 0, data=desc.reshape(-1))


def features_descriptors(msg) -> np.ndarray:
    """(N, D) float32 descriptors of a Features message, whatever its descriptor format."""
    n, d = len(msg.scores), int(msg.descriptor_length)
    if msg.descriptor_format == msg.FLOAT16:
        values = np.frombuffer(np.asarray(msg.descriptor_bytes, np.uint8).tobytes(), '<f2')
        return values.astype(np.float32).reshape(n, d)
    if msg.descriptor_format == msg.UINT8:
        codes = np.asarray(msg.descriptor_bytes, np.float32)
        return ((codes - 128.0) / np.float32(msg.descriptor_scale)).reshape(n, d)
    return np.asarray(msg.descriptors, np.float32).reshape(n, d)
