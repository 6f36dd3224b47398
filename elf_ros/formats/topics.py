"""
Topic names for each camera the node serves.

Naming scheme (docs/node.md): a camera's outputs are siblings of its input topic, i.e. they
live in the input topic's namespace. `image` -> `keypoints`, `descriptors`, `saliency`,
`debug_image`, `features` (relative, so remapping `image` and pushing the node into a
namespace work as usual); `/left/image_raw` -> `/left/keypoints`, ...; `right/image` ->
`right/keypoints`, ...
Two inputs in one namespace would share outputs, so that is refused with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

OUTPUTS = ('keypoints', 'descriptors', 'saliency', 'debug_image', 'features')


@dataclass(frozen=True)
class CameraTopics:
    """Input topic of one camera and the names of its outputs."""

    input: str
    keypoints: str
    descriptors: str
    saliency: str
    debug_image: str
    features: str


def camera_topics(image_topics: list[str]) -> list[CameraTopics]:
    """Output names for each input topic; ValueError when the list is empty or outputs clash."""
    topics = [t.strip() for t in image_topics]
    if not topics or any(not t for t in topics):
        raise ValueError(
            f'image_topics must be a non-empty list of topic names, got {image_topics}')
    cameras, namespaces = [], {}
    for topic in topics:
        head, sep, _ = topic.rstrip('/').rpartition('/')
        prefix = head + sep
        if prefix in namespaces:
            raise ValueError(
                f'image topics {namespaces[prefix]!r} and {topic!r} are in the same namespace '
                f'{prefix or "(node namespace)"!r}, so their outputs would clash; put each '
                'camera in its own namespace (e.g. left/image, right/image)')
        namespaces[prefix] = topic
        cameras.append(CameraTopics(topic, *(prefix + name for name in OUTPUTS)))
    return cameras


def sibling(topic: str, name: str) -> str:
    """Return `name` in the namespace of `topic` (image -> camera_info, /a/b -> /a/name)."""
    head, sep, _ = topic.rstrip('/').rpartition('/')
    return head + sep + name
