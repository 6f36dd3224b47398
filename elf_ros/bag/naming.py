"""
Output topic names for recorded image topics: the node's naming rule (elf_ros/formats/topics.py).

Outputs are siblings of the image topic: `/cam/image_raw` -> `/cam/features`, `/cam/keypoints`,
`/cam/descriptors`, `/cam/feature_tracks`. A CompressedImage topic `<base>/compressed` counts as
`<base>` (what the node would subscribe to through image_transport), so
`/cam/image_raw/compressed` -> `/cam/...`.
"""
from __future__ import annotations

from elf_ros.bag.typestore import COMPRESSED_IMAGE
from elf_ros.formats.topics import camera_topics

OUTPUT_KINDS = ('features', 'keypoints', 'descriptors', 'tracks')
TRANSPORT_SUFFIX = '/compressed'


def image_base(topic: str, msgtype: str) -> str:
    """Return the raw image topic a recorded topic stands for (strips image_transport's suffix)."""
    if msgtype == COMPRESSED_IMAGE and topic.endswith(TRANSPORT_SUFFIX):
        return topic[:-len(TRANSPORT_SUFFIX)] or '/'
    return topic


def output_topics(inputs: dict[str, str]) -> dict[str, dict[str, str]]:
    """
    {input topic: {kind: output topic}} for {input topic: msgtype}.

    ValueError (from the node's rule) when two inputs would share outputs.
    """
    bases = [image_base(topic, msgtype) for topic, msgtype in inputs.items()]
    cameras = camera_topics(bases)
    out = {}
    for topic, cam in zip(inputs, cameras, strict=True):
        prefix = cam.keypoints[:-len('keypoints')]
        out[topic] = {'features': getattr(cam, 'features', prefix + 'features'),
                      'keypoints': cam.keypoints, 'descriptors': cam.descriptors,
                      'tracks': prefix + 'feature_tracks'}
    return out
