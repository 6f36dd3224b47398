"""
The image side of a features consumer (elf_matcher, elf_tracker): frames and subscriptions.

What the node reads from one paired frame, and the image subscription it holds only while
images are needed.

Both nodes receive a Features message and, when stamp pairing found it, the frame's image; a
malformed message is skipped and an image that cannot be converted leaves the frame imageless
(no refinement, no drawing), each with a warning, so one bad message never stops the node.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from elf_ros.formats.images import ImageConversionError, to_detector_image
from elf_ros.ros import messages


class FrameInput(NamedTuple):
    """Keypoints (N, 2) float32 pixels, descriptors (N, D) float32, image (H, W, 3) or None."""

    keypoints: np.ndarray
    descriptors: np.ndarray
    image: np.ndarray | None


def read_frame(msg: Any, image_msg: Any | None, logger: Any,
               without_image: str = 'cannot use the image') -> FrameInput | None:
    """
    Decode a Features message and its paired image; None (warned) when the message is bad.

    ``without_image`` starts the throttled warning logged when the image cannot be converted.
    """
    try:
        keypoints, _, descriptors = messages.features_from_msg(msg)
    except ValueError as err:
        logger.warning(f'ignoring a malformed Features message: {err}')
        return None
    image = None
    if image_msg is not None:
        try:
            image = to_detector_image(image_msg)
        except ImageConversionError as err:
            logger.warning(f'{without_image}: {err}', throttle_duration_sec=10)
    return FrameInput(keypoints, descriptors, image)


def follow_images(node: Any, subscription: Any | None, wanted: bool, topic: str,
                  on_image: Any, pending: Any, process: Any) -> Any | None:
    """
    Hold an image subscription exactly while images are ``wanted``; return the subscription.

    Subscribing costs a copy of every camera frame, so the nodes subscribe only while they
    refine, bridge or someone watches their debug image. On unsubscribing, the Features
    messages still waiting in ``pending`` (a StampPairer) for their image are processed
    imageless at once: nothing waits for an image that will no longer come.
    """
    if wanted and subscription is None:
        return node.create_subscription(
            Image, topic, on_image, QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
    if not wanted and subscription is not None:
        node.destroy_subscription(subscription)
        for msg in pending.drain():
            process(msg, None)
        return None
    return subscription
