"""
Image bags from frames: for the benchmark, the tests, and users trying `elf-bag` on pictures.

`python -m elf_ros.bag.pack FOLDER OUT [--topic T] [--encoding E] [--rate HZ]`.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Writer

from elf_ros.bag.typestore import COMPRESSED_IMAGE, elf_typestore, IMAGE
from elf_ros.formats.images import encode_rgb

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.pgm', '.ppm', '.bmp', '.tif', '.tiff')


def _header(stamp_ns: int, frame_id: str):
    store = elf_typestore()
    time = store.types['builtin_interfaces/msg/Time'](
        sec=int(stamp_ns // 10**9), nanosec=int(stamp_ns % 10**9))
    return store.types['std_msgs/msg/Header'](stamp=time, frame_id=frame_id)


def image_message(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = 'camera',
                  padding: int = 0, big_endian: bool = False):
    """Build a sensor_msgs/Image of an RGB (mono8: also gray) uint8 frame as `encoding`."""
    if pixels.ndim == 2:
        if encoding not in ('mono8', '8UC1') or padding or big_endian:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
        else:
            data, step = pixels.tobytes(), pixels.shape[1]
    if pixels.ndim == 3:
        data, step = encode_rgb(pixels, encoding, padding, big_endian)
    return elf_typestore().types[IMAGE](
        header=_header(stamp_ns, frame_id), height=pixels.shape[0], width=pixels.shape[1],
        encoding=encoding, is_bigendian=int(big_endian), step=step,
        data=np.frombuffer(data, np.uint8))


def compressed_message(pixels: np.ndarray, fmt: str, stamp_ns: int, frame_id: str = 'camera'):
    """Build a sensor_msgs/CompressedImage of an RGB or gray frame ('png' or 'jpeg')."""
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
    ok, buf = cv2.imencode('.jpg' if fmt == 'jpeg' else f'.{fmt}', bgr)
    if not ok:
        raise ValueError(f'OpenCV cannot encode {fmt}')
    return elf_typestore().types[COMPRESSED_IMAGE](
        header=_header(stamp_ns, frame_id), format=fmt, data=buf.reshape(-1))


def write_bag(out: Path, records: Iterable[tuple[str, int, object]], storage: str = 'mcap'
              ) -> int:
    """Write (topic, receive time ns, message) records to a new bag; returns how many."""
    from elf_ros.bag.process import BAG_VERSION, STORAGES
    store = elf_typestore()
    count = 0
    with Writer(Path(out), version=BAG_VERSION, storage_plugin=STORAGES[storage]) as writer:
        connections = {}
        for topic, timestamp, msg in records:
            msgtype = msg.__msgtype__
            if (topic, msgtype) not in connections:
                connections[topic, msgtype] = writer.add_connection(topic, msgtype,
                                                                    typestore=store)
            writer.write(connections[topic, msgtype], timestamp,
                         store.serialize_cdr(msg, msgtype))
            count += 1
    return count


def read_folder(folder: Path, gray: bool = False) -> list[tuple[Path, np.ndarray]]:
    """Image files of a folder (sorted by name) as RGB, or gray, uint8 arrays."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {folder}')
    frames = []
    for path in files:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f'cannot read image {path}')
        frames.append((path, img if gray else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return frames


def pack_folder(folder: Path, out: Path, topic: str = '/camera/image_raw',
                encoding: str = 'rgb8', rate: float = 10.0, storage: str = 'mcap',
                start_ns: int = 1_700_000_000 * 10**9, frame_id: str = 'camera',
                limit: int = 0) -> int:
    """Write a folder of frames (the first `limit`, 0 = all) as one image topic at `rate` Hz."""
    gray = encoding in ('mono8', '8UC1')
    period = int(round(1e9 / rate))
    frames = read_folder(folder, gray)[:limit or None]

    def records():
        for i, (_, pixels) in enumerate(frames):
            stamp = start_ns + i * period
            yield topic, stamp, image_message(pixels, encoding, stamp, frame_id)
    return write_bag(out, records(), storage)
