"""
`elf-bag process`: run the detector over a bag's image topics and write the features as a bag.

One thread reads, deserialises and converts frames into batches while the caller's thread runs
the detector and writes, so on a GPU the bag work hides behind detection. The output is written
into a hidden staging folder beside OUT and renamed into place only when complete: an
interrupted or failed run leaves no bag that looks finished.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import queue
import shutil
import sys
import threading
import time
from typing import Any

import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer

from elf_ros.bag.images import ImageConversionError, to_detector_input
from elf_ros.bag.messages import descriptor_array_msg, features_msg, keypoint_array_msg
from elf_ros.bag.naming import OUTPUT_KINDS, output_topics
from elf_ros.bag.reader import BagError, ImageTopic, iter_messages, open_bag, select_topics
from elf_ros.bag.tracks import camera_models, POINT_CLOUD, pointcloud_msg, stamp_seconds, trackers
from elf_ros.bag.typestore import DESCRIPTOR_ARRAY, elf_typestore, FEATURES, KEYPOINT_ARRAY
from elf_ros.core import detect_each, ElfDetector

STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
BAG_VERSION = 8  # readable by Jazzy and Kilted; carries type hashes and custom_data
OUTPUT_TYPES = {'features': FEATURES, 'keypoints': KEYPOINT_ARRAY,
                'descriptors': DESCRIPTOR_ARRAY, 'tracks': POINT_CLOUD}


@dataclass
class ProcessOptions:
    """What to read and write; defaults are the CLI's."""

    topics: list[str] | None = None
    outputs: tuple[str, ...] = ('features',)
    batch: int = 8
    storage: str = 'mcap'
    copy_inputs: bool = False
    overwrite: bool = False
    descriptor_format: str = 'float32'
    progress: bool = True


@dataclass
class Frame:
    """One recorded image message and, when it converts, the detector input."""

    connection: Connection
    timestamp: int
    raw: bytes
    msg: Any = None
    image: np.ndarray | None = None
    reason: str = ''


@dataclass
class Summary:
    """What a run did; `frames` counts frames with features written."""

    frames: int = 0
    keypoints: list[int] = field(default_factory=list)
    per_topic: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)   # (topic, reason) -> frames
    seconds: float = 0.0
    detector_seconds: float = 0.0
    output: str = ''

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        kps = np.array(self.keypoints or [0])
        return {
            'frames': self.frames, 'per_topic': dict(self.per_topic),
            'skipped': sum(self.skipped.values()),
            'skipped_reasons': {f'{t}: {r}': n for (t, r), n in self.skipped.items()},
            'keypoints_per_frame_mean': float(kps.mean()),
            'keypoints_per_frame_min': int(kps.min()), 'keypoints_per_frame_max': int(kps.max()),
            'seconds': self.seconds, 'detector_seconds': self.detector_seconds,
            'frames_per_second': self.fps, 'output': self.output}

    def text(self) -> str:
        d = self.to_dict()
        lines = [f'{self.frames} frames -> {self.output}',
                 f'  keypoints per frame: mean {d["keypoints_per_frame_mean"]:.1f}, '
                 f'min {d["keypoints_per_frame_min"]}, max {d["keypoints_per_frame_max"]}',
                 f'  {self.fps:.2f} frames/s ({self.seconds:.2f} s, detector '
                 f'{self.detector_seconds:.2f} s)']
        lines += [f'  {topic}: {n} frames' for topic, n in sorted(self.per_topic.items())]
        if self.skipped:
            lines.append(f'  skipped {sum(self.skipped.values())} frames:')
            lines += [f'    {t}: {n} x {r}' for (t, r), n in sorted(self.skipped.items())]
        return '\n'.join(lines)


def check_output(src: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output that exists (unless overwrite), overlaps the input, or has no folder."""
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents or o in s.parents:
        raise BagError(f'output {out} overlaps the input bag {src}; choose another path')
    if out.exists() and not overwrite:
        raise BagError(f'output {out} exists; use --overwrite to replace it')
    if not o.parent.is_dir():
        raise BagError(f'output folder {o.parent} does not exist')
    if not os.access(o.parent, os.W_OK):
        raise BagError(f'output folder {o.parent} is not writable')


def _batches(reader, topics: dict[str, ImageTopic], size: int) -> Iterator[list[Frame]]:
    """Read and convert frames in receive-time order, `size` convertible frames at a time."""
    store = elf_typestore()
    batch: list[Frame] = []
    convertible = 0
    for conn, timestamp, raw in iter_messages(reader, topics):
        frame = Frame(conn, timestamp, raw)
        try:
            frame.msg = store.deserialize_cdr(raw, conn.msgtype)
            frame.image = to_detector_input(frame.msg, conn.msgtype)
            convertible += 1
        except ImageConversionError as err:
            frame.reason = str(err)
        except Exception as err:  # noqa: BLE001 - a corrupt record: skip it, say why
            frame.reason = f'cannot deserialise {conn.msgtype}: {err}'
        batch.append(frame)
        if convertible >= size:
            yield batch
            batch, convertible = [], 0
    if batch:
        yield batch


def _prefetch(source: Iterator[list[Frame]], depth: int = 2) -> Iterator[list[Frame]]:
    """Run `source` in a thread, `depth` batches ahead; its errors re-raise here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        """Queue an item unless the consumer has gone (then never block on a full queue)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put(err)

    thread = threading.Thread(target=work, name='bag-reader', daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _detect(detector: ElfDetector, frames: list[Frame]) -> list:
    """Detector results for the frames with an image; a frame the detector refuses gets None."""
    # One bad frame (e.g. too small for the network) must not sink its batch.
    results = detect_each(detector, [f.image for f in frames])
    for f, result in zip(frames, results, strict=True):
        if isinstance(result, Exception):
            f.reason = str(result).removeprefix('image 0: ')
    return [None if isinstance(r, Exception) else r for r in results]


class _OutputBag:
    """The bag being written: connections per input topic and output kind."""

    def __init__(self, writer: Writer, topics: dict[str, ImageTopic], options: ProcessOptions,
                 config_json: str, source: Path, cameras: dict | None = None) -> None:
        store = elf_typestore()
        self.trackers = trackers(cameras or {})
        self.writer, self.store = writer, store
        names = output_topics({t.name: t.msgtype for t in topics.values()})
        self.outputs = {}
        for topic in topics:
            self.outputs[topic] = {
                kind: writer.add_connection(names[topic][kind], OUTPUT_TYPES[kind],
                                            typestore=store)
                for kind in options.outputs}
        self.copies: dict[int, Connection] = {}
        if options.copy_inputs:
            for t in topics.values():
                for c in t.connections:
                    self.copies[c.id] = self._copy_connection(c)
        writer.set_custom_data('elf_ros.detector_config', config_json)
        writer.set_custom_data('elf_ros.source_bag', str(source))

    def _copy_connection(self, c: Connection) -> Connection:
        """Add a connection with the topic, type, definition and QoS as the recorded connection."""
        for existing in self.writer.connections:
            if existing.topic == c.topic and existing.msgtype == c.msgtype:
                return existing
        qos = list(getattr(c.ext, 'offered_qos_profiles', []) or [])
        if c.msgdef.data and c.digest:
            return self.writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data,
                                              rihs01=c.digest, offered_qos_profiles=qos)
        return self.writer.add_connection(c.topic, c.msgtype, typestore=self.store,
                                          offered_qos_profiles=qos)

    def write(self, frame: Frame, result, backbone: str, layer: str, fmt: str) -> None:
        """Features of one frame, stamped with the source's receive time and header."""
        msg = frame.msg
        h, w = frame.image.shape[:2]
        build: dict[str, Callable[[], Any]] = {
            'features': lambda: features_msg(self.store, msg.header, w, h, result, backbone,
                                             layer, fmt),
            'keypoints': lambda: keypoint_array_msg(self.store, msg.header, w, h, result),
            'descriptors': lambda: descriptor_array_msg(self.store, msg.header, result,
                                                        backbone, layer),
            'tracks': lambda: pointcloud_msg(self.store, msg.header, self.trackers[
                frame.connection.topic].step(result.keypoints, result.descriptors,
                                             stamp_seconds(msg.header), frame.image))}
        for kind, conn in self.outputs[frame.connection.topic].items():
            data = self.store.serialize_cdr(build[kind](), OUTPUT_TYPES[kind])
            self.writer.write(conn, frame.timestamp, data)

    def copy(self, frame: Frame) -> None:
        if frame.connection.id in self.copies:
            self.writer.write(self.copies[frame.connection.id], frame.timestamp, frame.raw)


def _publish(staged: Path, out: Path, overwrite: bool) -> None:
    """Move the finished bag to `out` (replacing an old one only when asked)."""
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise BagError(f'output {out} appeared while processing; not replaced')
        old = staged.parent / (out.name + '.old')
        os.replace(out, old)  # the old bag goes away with the staging folder
    os.replace(staged, out)


def _check_options(options: ProcessOptions) -> None:
    if options.storage not in STORAGES:
        raise BagError(f'storage: allowed {", ".join(STORAGES)}; got {options.storage!r}')
    unknown = sorted(set(options.outputs) - set(OUTPUT_KINDS))
    if unknown or not options.outputs:
        raise BagError(f'outputs: allowed {", ".join(OUTPUT_KINDS)}; got {list(options.outputs)}')
    if options.batch < 1:
        raise BagError(f'batch: must be at least 1, got {options.batch}')


def _choose_topics(reader, options: ProcessOptions) -> dict[str, ImageTopic]:
    topics = select_topics(reader, options.topics)
    try:
        output_topics({t.name: t.msgtype for t in topics.values()})
    except ValueError as err:
        raise BagError(f'{err}; choose topics with --topics') from None
    return topics


def preflight(src: Path, out: Path, options: ProcessOptions) -> None:
    """Check options, paths and topics before anything slow (a network) is loaded."""
    _check_options(options)
    check_output(Path(src), Path(out), options.overwrite)
    with open_bag(Path(src)) as reader:
        topics = _choose_topics(reader, options)
        if 'tracks' in options.outputs:
            camera_models(reader, topics)


def process_bag(src: Path, out: Path, detector: ElfDetector, options: ProcessOptions
                ) -> Summary:
    """Process `src` into a new bag at `out`; BagError for bad input, nothing left on failure."""
    src, out = Path(src), Path(out)
    _check_options(options)
    check_output(src, out, options.overwrite)
    summary = Summary(output=str(out))
    backbone = detector.config.backbone
    layer = detector.backbone.description_layer
    config_json = json.dumps(detector.config.to_dict(), sort_keys=True)
    with open_bag(src) as reader:
        topics = _choose_topics(reader, options)
        cameras = camera_models(reader, topics) if 'tracks' in options.outputs else {}
        staging = out.parent / f'.{out.name}.partial-{os.getpid()}'
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        writer = Writer(staging / out.name, version=BAG_VERSION,
                        storage_plugin=STORAGES[options.storage])
        try:
            writer.open()
            bag = _OutputBag(writer, topics, options, config_json, src, cameras)
            summary = _run(reader, topics, detector, bag, options, summary, (backbone, layer))
            writer.close()
            _publish(staging / out.name, out, options.overwrite)
        except BaseException:
            if writer.storage is not None:
                writer.abort()
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return summary


def _run(reader, topics: dict[str, ImageTopic], detector: ElfDetector, bag: _OutputBag,
         options: ProcessOptions, summary: Summary, names: tuple[str, str]) -> Summary:
    """Run the read -> detect -> write loop, with progress bar and skip reports."""
    from tqdm import tqdm

    total = sum(t.count for t in topics.values())
    bar = tqdm(total=total, unit='frame', disable=not options.progress, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for frames in _prefetch(_batches(reader, topics, options.batch)):
            ready = [f for f in frames if f.image is not None]
            t0 = time.perf_counter()
            results = _detect(detector, ready) if ready else []
            summary.detector_seconds += time.perf_counter() - t0
            by_frame = {id(f): r for f, r in zip(ready, results, strict=True)}
            for frame in frames:
                if options.copy_inputs:
                    bag.copy(frame)
                result = by_frame.get(id(frame))
                topic = frame.connection.topic
                if result is None:
                    key = (topic, frame.reason or 'not converted')
                    if key not in summary.skipped:
                        bar.write(f'warning: {topic}: skipping frames: {key[1]}', file=sys.stderr)
                    summary.skipped[key] += 1
                    continue
                bag.write(frame, result, *names, options.descriptor_format)
                summary.frames += 1
                summary.per_topic[topic] += 1
                summary.keypoints.append(len(result))
            bar.update(len(frames))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    if summary.frames == 0:
        reasons = '; '.join(f'{t}: {r}' for t, r in summary.skipped)
        raise BagError(f'no frame could be processed ({reasons or "no image messages"})')
    return summary
