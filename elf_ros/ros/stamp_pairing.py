"""
Pair each Features message with the image of the same header stamp (no ROS in here).

elf_node copies the image header into its features, so elf_matcher and elf_tracker find a
frame's pixels by stamp. Images are subscribed best effort, so one may never come: a features
message waits at most `wait` seconds and `capacity` frames for its image, and goes on unpaired
(image None) as soon as a features message that arrived after it is paired (its image overtook).
Images wait for their features up to `capacity` frames, the oldest dropped first. Every method
returns the frames that are ready, as (features, image or None); over all calls they come in the
order their features arrived. What a node does with an unpaired frame (match it unrefined, drop
it) is its own choice.
"""
from __future__ import annotations

from collections import OrderedDict
import math
from typing import Generic, TypeVar

FeaturesT = TypeVar('FeaturesT')
ImageT = TypeVar('ImageT')
Stamp = tuple[int, int]  # (sec, nanosec) of a header stamp


def stamp_of(header) -> Stamp:
    """Return the (sec, nanosec) key of a std_msgs/Header (anything with .stamp.sec/.nanosec)."""
    return header.stamp.sec, header.stamp.nanosec


class StampPairer(Generic[FeaturesT, ImageT]):
    """Bounded buffers of features waiting for their image and images waiting for features."""

    def __init__(self, capacity: int, wait: float = math.inf) -> None:
        """Keep `capacity` frames per buffer; features wait `wait` seconds (inf: no limit)."""
        if capacity < 1 or not wait > 0:
            raise ValueError(f'capacity must be at least 1 and wait positive, got {capacity} '
                             f'and {wait}')
        self.capacity, self.wait = capacity, wait
        self._images: OrderedDict[Stamp, ImageT] = OrderedDict()
        # stamp -> (features, arrival time in seconds), oldest arrival first
        self._waiting: OrderedDict[Stamp, tuple[FeaturesT, float]] = OrderedDict()

    def __len__(self) -> int:
        """Features messages waiting for their image."""
        return len(self._waiting)

    def put_features(self, stamp: Stamp, features: FeaturesT,
                     now: float) -> list[tuple[FeaturesT, ImageT | None]]:
        """Pair with a waiting image (all waiting go on unpaired first), or wait (see the doc)."""
        ready: list[tuple[FeaturesT, ImageT | None]] = []
        if stamp in self._images:
            ready = [(waiting, None) for waiting in self.drain_features()]
            return [*ready, (features, self._images.pop(stamp))]
        self._waiting[stamp] = (features, now)
        while len(self._waiting) > self.capacity:
            ready.append((self._waiting.popitem(last=False)[1][0], None))
        return ready

    def put_image(self, stamp: Stamp, image: ImageT) -> list[tuple[FeaturesT, ImageT | None]]:
        """Pair with its waiting features (those that arrived before go on unpaired), or wait."""
        if stamp not in self._waiting:
            self._images[stamp] = image
            while len(self._images) > self.capacity:
                self._images.popitem(last=False)
            return []
        ready: list[tuple[FeaturesT, ImageT | None]] = []
        for older in list(self._waiting):
            if older == stamp:
                break
            ready.append((self._waiting.pop(older)[0], None))
        ready.append((self._waiting.pop(stamp)[0], image))
        return ready

    def expire(self, now: float) -> list[tuple[FeaturesT, None]]:
        """Hand back, unpaired and oldest first, the features that waited `wait` s or more."""
        ready: list[tuple[FeaturesT, None]] = []
        while self._waiting and now - next(iter(self._waiting.values()))[1] >= self.wait:
            ready.append((self._waiting.popitem(last=False)[1][0], None))
        return ready

    def drain(self) -> list[FeaturesT]:
        """Images no longer come: forget the images, hand back every waiting features in order."""
        self._images.clear()
        return self.drain_features()

    def drain_features(self) -> list[FeaturesT]:
        """Hand back every waiting features message, oldest first, and forget them."""
        waiting = [features for features, _ in self._waiting.values()]
        self._waiting.clear()
        return waiting
