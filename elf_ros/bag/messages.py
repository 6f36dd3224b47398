"""
elf_ros output messages as `rosbags` objects, built from detector results.

Same content as the node's messages: the source header unchanged, keypoints in source pixels
sorted by score, descriptor rows L2-normalised. Numeric arrays stay numpy (rosbags serialises
them as one block), so building a message costs no Python object per keypoint or value.
"""
from __future__ import annotations

import numpy as np

from elf_ros.bag.typestore import DESCRIPTOR_ARRAY, FEATURES, KEYPOINT_ARRAY
from elf_ros.core import descriptor_codec, ElfResult

DESCRIPTOR_FORMATS = descriptor_codec.FORMATS  # the node's values, one codec for both


def features_msg(store, header, width: int, height: int, result: ElfResult, backbone: str,
                 layer: str, descriptor_format: str = 'float32'):
    """elf_ros/msg/Features of one image, descriptors packed by the node's codec."""
    cls = store.types[FEATURES]
    desc = np.ascontiguousarray(result.descriptors, dtype=np.float32)
    payload, scale = descriptor_codec.encode(desc, descriptor_format)
    code = descriptor_codec.format_code(descriptor_format)
    empty_floats, empty_bytes = np.zeros(0, np.float32), np.zeros(0, np.uint8)
    floats = desc.reshape(-1) if code == cls.FLOAT32 else empty_floats
    raw = empty_bytes if code == cls.FLOAT32 else np.frombuffer(payload, np.uint8)
    return cls(
        header=header, image_width=int(width), image_height=int(height),
        keypoints=np.ascontiguousarray(result.keypoints, dtype=np.float32).reshape(-1),
        scores=np.ascontiguousarray(result.scores, dtype=np.float32),
        sizes=np.ascontiguousarray(result.sizes, dtype=np.float32),
        angles=np.ascontiguousarray(result.angles, dtype=np.float32),
        backbone=backbone, layer=layer,
        descriptor_length=int(desc.shape[1]) if desc.ndim == 2 else 0,
        descriptor_format=code, descriptors=floats, descriptor_bytes=raw,
        descriptor_scale=float(scale))


def keypoint_array_msg(store, header, width: int, height: int, result: ElfResult):
    """elf_ros/msg/KeypointArray (one Keypoint object per keypoint, as the type demands)."""
    keypoint = store.types['elf_ros/msg/Keypoint']
    rows = np.column_stack((result.keypoints, result.scores, result.sizes, result.angles)
                           ).astype(np.float64).tolist()
    return store.types[KEYPOINT_ARRAY](
        header=header, image_width=int(width), image_height=int(height),
        keypoints=[keypoint(x=x, y=y, score=s, size=z, angle=a) for x, y, s, z, a in rows])


def descriptor_array_msg(store, header, result: ElfResult, backbone: str, layer: str):
    """elf_ros/msg/DescriptorArray: (rows, cols) float32, row-major."""
    desc = np.ascontiguousarray(result.descriptors, dtype=np.float32)
    return store.types[DESCRIPTOR_ARRAY](
        header=header, backbone=backbone, layer=layer, rows=int(desc.shape[0]),
        cols=int(desc.shape[1]) if desc.ndim == 2 else 0, data=desc.reshape(-1))


def features_descriptors(msg) -> np.ndarray:
    """(N, D) float32 descriptors of a Features message, whatever its descriptor format."""
    return descriptor_codec.decode_features(msg)
