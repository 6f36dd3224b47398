"""
Benchmark: `elf-bag process` against the detector alone on the same frames (CPU or GPU).

`python -m elf_ros.bag.benchmark [--frames DIR] [--preset P] [--batch N] [--threads 1]`
packs the frames (default: the KITTI sequence in ../shared/data/kitti_seq1/image_l, mono8) into
a bag, then times, interleaved and repeated, (a) the detector alone on the decoded frames in
batches of N and (b) the whole `process_bag` run (read, convert, detect, build and serialise
messages, write, rename) with the same detector object. Overhead = (b - a) / a. OpenCV SIFT on
the same frames is timed in the same run, so numbers from a loaded machine can be compared by
ratio.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import statistics
import tempfile

import cv2
import torch

from elf_ros.bag.pack import pack_folder, read_folder
from elf_ros.bag.process import process_bag, ProcessOptions
from elf_ros.core import call_times, ElfDetector, load_preset, set_cpu_threads, WeightsError


def detect_all(detector: ElfDetector, frames: list, batch: int) -> None:
    """detect() over all frames in batches (CUDA synchronised by detect)."""
    for i in range(0, len(frames), batch):
        detector.detect(frames[i:i + batch])


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        set_cpu_threads(args.threads)
    overrides = {'device': args.device} if args.device else {}
    try:
        config = load_preset(args.preset, **overrides)
        detector = ElfDetector(config)
        weights = config.weights
    except WeightsError:  # same architecture and cost, seeded random weights
        config = load_preset(args.preset, weights='random', **overrides)
        detector = ElfDetector(config)
        weights = 'random (ImageNet weights not available here)'
    frames = [img for _, img in read_folder(args.frames, gray=True)]
    if args.limit:
        frames = frames[:args.limit]
    work = Path(tempfile.mkdtemp(prefix='elf_bag_bench_'))
    try:
        src = work / 'input'
        pack_folder(args.frames, src, '/kitti/image_l', 'mono8', 10.0, args.storage,
                    limit=args.limit)
        options = ProcessOptions(batch=args.batch, storage=args.storage, overwrite=True,
                                 outputs=tuple(args.outputs), progress=False)
        detect_all(detector, frames[:args.batch], args.batch)  # warm-up (and CUDA graphs)
        sift = cv2.SIFT_create(nfeatures=500)
        summaries = []

        def run_bag() -> None:
            summaries.append(process_bag(src, work / 'output', detector, options))

        det_s, bag_s, sift_s = call_times([
            lambda: detect_all(detector, frames, args.batch), run_bag,
            lambda: [sift.detectAndCompute(f, None) for f in frames]], args.repeats)
        bag_det_s = [s.detector_seconds for s in summaries]
        summary = summaries[-1]
        size = sum(p.stat().st_size for p in (work / 'output').iterdir())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(frames)
    det, bag, sift = (statistics.median(x) for x in (det_s, bag_s, sift_s))
    return {
        'frames': n, 'size': f'{frames[0].shape[1]}x{frames[0].shape[0]}',
        'preset': args.preset, 'weights': weights, 'batch': args.batch,
        'device': str(detector.device), 'threads': torch.get_num_threads(),
        'storage': args.storage, 'outputs': args.outputs, 'repeats': args.repeats,
        'detector_s': det, 'bag_s': bag, 'bag_detector_s': statistics.median(bag_det_s),
        'sift_s': sift, 'detector_fps': n / det, 'bag_fps': n / bag, 'sift_fps': n / sift,
        'overhead_pct': 100 * (bag - det) / det,
        # Paired per repeat (robust to slow drifts of the machine's load):
        'overhead_paired_pct': 100 * statistics.median(
            b / d - 1 for b, d in zip(bag_s, det_s, strict=True)),
        # Inside one bag run: time not spent in detect() (reading, converting, messages, writing
        # that the reader thread did not hide), against that run's own detector time.
        'bag_work_pct': 100 * statistics.median(
            (b - d) / d for b, d in zip(bag_s, bag_det_s, strict=True)),
        'keypoints_per_frame': summary.to_dict()['keypoints_per_frame_mean'],
        'output_mb': size / 1e6, 'torch': torch.__version__,
        'all_detector_s': det_s, 'all_bag_s': bag_s}


def table(r: dict) -> str:
    lines = [
        f"{r['frames']} frames {r['size']} (mono8 bag, {r['storage']}), preset {r['preset']} "
        f"({r['weights']}), batch {r['batch']}, {r['device']}, {r['threads']} threads, median "
        f"of {r['repeats']}; {r['keypoints_per_frame']:.0f} keypoints/frame, output "
        f"{r['output_mb']:.1f} MB",
        '',
        '| run | seconds | frames/s | vs detector alone |',
        '|---|---:|---:|---:|',
        f"| detector alone (`detect`, batches of {r['batch']}) | {r['detector_s']:.2f} | "
        f"{r['detector_fps']:.2f} | 1.00x |",
        f"| `elf-bag process` (read, detect, write {'+'.join(r['outputs'])}) | "
        f"{r['bag_s']:.2f} | {r['bag_fps']:.2f} | {r['bag_s'] / r['detector_s']:.3f}x |",
        f"| OpenCV SIFT (peer, same frames) | {r['sift_s']:.2f} | {r['sift_fps']:.2f} | "
        f"{r['sift_s'] / r['detector_s']:.3f}x |",
        '',
        f"bag overhead vs detector alone: {r['overhead_pct']:+.1f} % (medians), "
        f"{r['overhead_paired_pct']:+.1f} % (paired per repeat); time outside detect() within "
        f"the bag run: {r['bag_work_pct']:.1f} % of its detector time"]
    return '\n'.join(lines)
