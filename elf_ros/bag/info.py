"""`elf-bag info`: what a bag holds, with detail on its image topics."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from elf_ros.bag.reader import image_topics, iter_messages, open_bag
from elf_ros.bag.typestore import COMPRESSED_IMAGE, elf_typestore
from elf_ros.formats.compressed import decode_compressed
from elf_ros.formats.images import ImageConversionError


@dataclass
class TopicReport:
    """Counts, encodings (or formats) and sizes of one image topic."""

    name: str
    msgtype: str
    count: int
    encodings: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)      # (width, height) -> messages
    undecodable: int = 0


def image_report(path: Path) -> tuple[dict, dict[str, TopicReport]]:
    """Bag-level facts and a report per image topic (every message's header is read)."""
    store = elf_typestore()
    with open_bag(path) as reader:
        facts = {
            'path': str(path), 'messages': reader.message_count,
            'duration_s': reader.duration / 1e9, 'start_ns': reader.start_time,
            'topics': {n: (i.msgtype, i.msgcount) for n, i in sorted(reader.topics.items())}}
        topics = image_topics(reader)
        reports = {n: TopicReport(n, t.msgtype, t.count) for n, t in topics.items()}
        for conn, _, raw in iter_messages(reader, topics):
            rep = reports[conn.topic]
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.msgtype == COMPRESSED_IMAGE:
                rep.encodings[msg.format] += 1
                try:  # decoding every frame would be slow; the size rarely changes
                    if not rep.sizes:
                        img = decode_compressed(msg)
                        rep.sizes[(img.shape[1], img.shape[0])] += 1
                except ImageConversionError:
                    rep.undecodable += 1
            else:
                rep.encodings[msg.encoding] += 1
                rep.sizes[(int(msg.width), int(msg.height))] += 1
    return facts, reports


def format_report(facts: dict, reports: dict[str, TopicReport]) -> str:
    lines = [f'bag: {facts["path"]}',
             f'messages: {facts["messages"]}, duration {facts["duration_s"]:.3f} s']
    if not reports:
        lines.append('image topics: none')
    for rep in reports.values():
        kind = 'CompressedImage' if rep.msgtype == COMPRESSED_IMAGE else 'Image'
        enc = ', '.join(f'{e} ({n})' for e, n in rep.encodings.most_common()) or '-'
        label = 'formats' if rep.msgtype == COMPRESSED_IMAGE else 'encodings'
        sizes = ', '.join(f'{w}x{h}' + (f' ({n})' if rep.msgtype != COMPRESSED_IMAGE else '')
                          for (w, h), n in rep.sizes.most_common()) or '-'
        if rep.msgtype == COMPRESSED_IMAGE and rep.sizes:
            sizes += ' (first frame)'
        lines.append(f'{rep.name}  [{kind}]  {rep.count} messages')
        lines.append(f'    {label}: {enc}')
        lines.append(f'    sizes: {sizes}')
        if rep.undecodable:
            lines.append(f'    undecodable: {rep.undecodable}')
    others = {n: v for n, v in facts['topics'].items() if n not in reports}
    if others:
        lines.append('other topics:')
        lines += [f'    {n}  [{t}]  {c} messages' for n, (t, c) in others.items()]
    return '\n'.join(lines)
