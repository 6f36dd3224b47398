"""
Build time and serialised size of Features (each format) against KeypointArray+DescriptorArray.

    python -m elf_ros.ros.message_benchmark --keypoints 500,10000 --dim 256

Timings are medians of repeated builds in this process (one thread); sizes are the CDR bytes
rclpy would put on the wire (rclpy.serialization).
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

import numpy as np
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from elf_ros.core import descriptor_codec, median_ms
from elf_ros.ros import messages

FORMATS = descriptor_codec.FORMATS


def build_ms(build: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median ms of `build` (after one warm-up call) and a message it built."""
    (ms,) = median_ms([build], repeats, warmup=1)
    return ms, build()


def measure(n: int, dim: int, repeats: int, rng: np.random.Generator) -> list[str]:
    """Markdown rows for n keypoints with dim-long descriptors."""
    header = Header(frame_id='camera')
    xy = rng.uniform(0, 640, (n, 2)).astype(np.float32)
    scores = np.sort(rng.uniform(0, 1, n).astype(np.float32))[::-1].copy()
    desc = rng.standard_normal((n, dim)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)

    def keypoints() -> object:
        return messages.keypoint_array(header, 640, 480, xy, scores)

    def pair() -> tuple:
        return keypoints(), messages.descriptor_array(header, desc, 'vgg16', 'pool3')

    base_ms, (kpa, dea) = build_ms(pair, repeats)
    kp_ms, _ = build_ms(keypoints, repeats)
    kp_size = len(serialize_message(kpa))
    rows = [f'| {n} | KeypointArray alone | {kp_ms:.3f} | {kp_ms / base_ms:.2f} | {kp_size} |',
            f'| {n} | KeypointArray + DescriptorArray | {base_ms:.3f} | 1.00 | '
            f'{kp_size + len(serialize_message(dea))} |']
    for fmt in FORMATS:
        ms, msg = build_ms(lambda fmt=fmt: messages.features(
            header, 640, 480, xy, scores, desc, 'vgg16', 'pool3', fmt), repeats)
        rows.append(f'| {n} | Features {fmt} | {ms:.3f} | {ms / base_ms:.2f} | '
                    f'{len(serialize_message(msg))} |')
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m elf_ros.ros.message_benchmark')
    parser.add_argument('--keypoints', default='500,10000')
    parser.add_argument('--dim', type=int, default=256, help='descriptor length')
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print('| keypoints | message | build ms (median) | vs KeypointArray+DescriptorArray | '
          'serialised bytes |')
    print('|---:|---|---:|---:|---:|')
    for n in (int(v) for v in args.keypoints.split(',')):
        for row in measure(n, args.dim, args.repeats, rng):
            print(row)
    return 0


if __name__ == '__main__':
    sys.exit(main())
