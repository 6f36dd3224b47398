"""Test bags built from real frames (the shipped TUM fr2/desk PNGs), in either storage format."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from elf_ros.bag.pack import compressed_message, image_message, write_bag
from elf_ros.bag.typestore import elf_typestore

REPO = Path(__file__).resolve().parents[2]
FRAMES = sorted((REPO / 'data' / 'tum_fr2_desk').glob('*.png'))
# The `random` preset (seeded VGG16) at a small network size: fast, and deterministic.
FAST_FIELDS = {'input_width': 96, 'input_height': 72, 'border': 4, 'nms_radius': 4,
               'device': 'cpu'}
FAST = ['--preset', 'random', *(a for k, v in FAST_FIELDS.items() for a in ('-p', f'{k}={v}'))]
T0 = 1_311_868_169 * 10**9


def rgb(index: int) -> np.ndarray:
    """Real RGB frame `index` of the shipped sequence (640x480)."""
    bgr = cv2.imread(str(FRAMES[index % len(FRAMES)]), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def string_msg(text: str):
    return elf_typestore().types['std_msgs/msg/String'](data=text)


def mixed_records() -> tuple[list, dict[str, list[tuple]]]:
    """
    Build the records of a bag with every input kind, and what the detector should see per topic.

    /cam/image_raw rgb8, /left/image bgr8 with row padding, /mono/image mono8 with padding,
    /comp/image_raw/compressed png, /bad/image 32FC1 (unsupported), /chatter a String.
    Returns (records, {topic: [(receive time, stamp, frame_id, detector input or None)]}).
    """
    plan = [  # (topic, frame index, kind)
        ('/cam/image_raw', 0, 'rgb8'), ('/left/image', 1, 'bgr8'), ('/mono/image', 2, 'mono8'),
        ('/comp/image_raw/compressed', 3, 'png'), ('/bad/image', 4, '32FC1'),
        ('/cam/image_raw', 5, 'rgb8'), ('/chatter', 0, 'string'), ('/bad/image', 8, '32FC1'),
        ('/comp/image_raw/compressed', 7, 'png'),
    ]
    records, expected = [], {}
    for i, (topic, index, kind) in enumerate(plan):
        stamp = T0 + i * 33_000_000            # header stamp (capture)
        received = stamp + 5_000_000 + i       # receive time, different from the stamp
        frame_id = f'{topic.strip("/").split("/")[0]}_optical'
        pixels = rgb(index)
        if kind == 'string':
            records.append((topic, received, string_msg('hello')))
            continue
        if kind == 'png':
            msg = compressed_message(pixels, 'png', stamp, frame_id)
            seen = pixels
        elif kind == '32FC1':
            msg = image_message(pixels, 'rgb8', stamp, frame_id)
            msg.encoding, msg.step = '32FC1', 640 * 4
            msg.data = np.zeros(640 * 4 * 480, np.uint8)
            seen = None
        elif kind == 'mono8':
            seen = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
            msg = image_message(seen, 'mono8', stamp, frame_id, padding=5)
        else:
            msg = image_message(pixels, kind, stamp, frame_id, padding=3 if kind == 'bgr8' else 0)
            seen = pixels
        records.append((topic, received, msg))
        expected.setdefault(topic, []).append((received, stamp, frame_id, seen))
    return records, expected


def make_bag(path: Path, storage: str):
    """Write the mixed bag to `path`; returns what mixed_records() describes."""
    records, expected = mixed_records()
    write_bag(path, records, storage)
    return expected
