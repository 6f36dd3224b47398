"""
Opening a recorded bag and iterating its image messages, with errors a user can act on.

Input is a rosbag2 folder (metadata.yaml + storage files) or a single .mcap / .db3 file.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader

from elf_ros.bag.typestore import elf_typestore, IMAGE_TYPES


class BagError(Exception):
    """Bad input (missing or unreadable bag, unknown topic, refused output): exit status 2."""


@dataclass(frozen=True)
class ImageTopic:
    """One image topic of a bag."""

    name: str
    msgtype: str
    count: int
    connections: tuple[Connection, ...]


@contextmanager
def open_bag(path: Path) -> Iterator[Reader]:
    """Open a rosbag2 for reading; BagError says what is wrong with the path or its content."""
    path = Path(path)
    if not path.exists():
        raise BagError(f'input bag {path} does not exist')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        raise BagError(f'{path} is not a rosbag2 folder (no metadata.yaml)')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as err:  # noqa: BLE001 - rosbags raises many kinds for a broken bag
        raise BagError(f'cannot read bag {path}: {err}') from None
    try:
        yield reader
    finally:
        reader.close()


def image_topics(reader: Reader) -> dict[str, ImageTopic]:
    """Every sensor_msgs/Image or CompressedImage topic of the bag, by name."""
    out = {}
    for name, info in sorted(reader.topics.items()):
        if info.msgtype in IMAGE_TYPES:
            out[name] = ImageTopic(name, info.msgtype, info.msgcount, tuple(info.connections))
    return out


def select_topics(reader: Reader, wanted: Sequence[str] | None) -> dict[str, ImageTopic]:
    """Pick the requested image topics (all when none are named); BagError otherwise."""
    images = image_topics(reader)
    if not wanted:
        if not images:
            others = ', '.join(f'{n} ({i.msgtype})' for n, i in reader.topics.items()) or 'none'
            raise BagError(f'the bag has no sensor_msgs/Image or CompressedImage topic; '
                           f'topics: {others}')
        return images
    chosen = {}
    for name in wanted:
        if name in images:
            chosen[name] = images[name]
        elif name in reader.topics:
            raise BagError(f'topic {name} is {reader.topics[name].msgtype}, not an image; image '
                           f'topics: {", ".join(images) or "none"}')
        else:
            raise BagError(f'topic {name} is not in the bag; image topics: '
                           f'{", ".join(images) or "none"}')
    return chosen


def iter_messages(reader: Reader, topics: dict[str, ImageTopic]
                  ) -> Iterator[tuple[Connection, int, bytes]]:
    """Raw messages of the chosen topics in receive-time order: (connection, time ns, CDR)."""
    connections = [c for t in topics.values() for c in t.connections]
    if not connections:  # rosbags reads every topic when given none
        return
    messages = reader.messages(connections=connections)
    while True:
        try:
            record = next(messages)
        except StopIteration:
            return
        except Exception as err:  # noqa: BLE001 - a truncated or corrupt storage file
            raise BagError(f'reading the bag failed: {type(err).__name__}: {err}') from None
        yield record


def deserialize(connection: Connection, raw: bytes):
    """Deserialise one raw record."""
    return elf_typestore().deserialize_cdr(raw, connection.msgtype)
