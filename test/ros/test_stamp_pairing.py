"""StampPairer without ROS: explicit stamps and `now` values, and a list-based reference model."""
import math

import numpy as np
import pytest

from elf_ros.ros.stamp_pairing import stamp_of, StampPairer


def s(sec: int) -> tuple[int, int]:
    return sec, 0


def test_pairs_by_stamp_whichever_arrives_first():
    pairer = StampPairer(capacity=4, wait=0.5)
    assert pairer.put_features(s(1), 'f1', now=0.0) == []      # features first: waits
    assert len(pairer) == 1
    assert pairer.put_image(s(1), 'i1') == [('f1', 'i1')]
    assert pairer.put_image(s(2), 'i2') == []                   # image first: waits
    assert pairer.put_features(s(2), 'f2', now=0.1) == [('f2', 'i2')]
    assert len(pairer) == 0
    assert pairer.put_image(s(3), 'i3') == []
    assert pairer.put_features((3, 1), 'f3b', now=0.2) == []    # nanoseconds count
    assert pairer.drain() == ['f3b']


def test_features_go_on_unpaired_after_wait_seconds_in_order():
    pairer = StampPairer(capacity=8, wait=0.5)
    pairer.put_features(s(1), 'f1', now=10.0)
    pairer.put_features(s(2), 'f2', now=10.2)
    assert pairer.expire(10.49) == []
    assert pairer.expire(10.5) == [('f1', None)]                # waited exactly `wait`
    assert pairer.expire(11.0) == [('f2', None)]
    assert len(pairer) == 0
    assert pairer.put_image(s(1), 'i1') == []                   # too late: the image waits


def test_without_a_wait_limit_features_wait_for_ever():
    pairer = StampPairer(capacity=2)
    pairer.put_features(s(1), 'f1', now=0.0)
    assert pairer.expire(1e9) == [] and len(pairer) == 1


def test_full_buffers_drop_the_oldest():
    pairer = StampPairer(capacity=3, wait=math.inf)
    ready = [pairer.put_features(s(k), f'f{k}', now=float(k)) for k in range(1, 6)]
    assert ready == [[], [], [], [('f1', None)], [('f2', None)]]
    assert pairer.drain() == ['f3', 'f4', 'f5']
    for k in range(1, 6):                                       # images: the oldest forgotten
        assert pairer.put_image(s(k), f'i{k}') == []
    assert pairer.put_features(s(1), 'f1', now=0.0) == []      # i1 and i2 were dropped
    assert pairer.put_features(s(2), 'f2', now=0.0) == []
    assert pairer.put_features(s(3), 'f3', now=0.0) == [('f1', None), ('f2', None),
                                                          ('f3', 'i3')]


def test_an_overtaking_image_sends_the_earlier_features_on_unpaired():
    pairer = StampPairer(capacity=8, wait=0.5)
    for k in (1, 2, 3):
        pairer.put_features(s(k), f'f{k}', now=0.0)
    assert pairer.put_image(s(3), 'i3') == [('f1', None), ('f2', None), ('f3', 'i3')]
    assert len(pairer) == 0


def test_a_paired_features_sends_the_waiting_ones_on_first_keeping_arrival_order():
    """f1's image is lost, f2's image comes before f2: f1 must not be processed after f2."""
    pairer = StampPairer(capacity=8, wait=0.5)
    pairer.put_features(s(1), 'f1', now=0.0)
    pairer.put_image(s(2), 'i2')
    assert pairer.put_features(s(2), 'f2', now=0.1) == [('f1', None), ('f2', 'i2')]
    assert len(pairer) == 0 and pairer.expire(10.0) == []
    assert pairer.put_image(s(1), 'i1') == []                   # late: waits, pairs nothing


def test_drain_forgets_the_images_and_returns_the_waiting_features():
    pairer = StampPairer(capacity=8, wait=0.5)
    pairer.put_image(s(5), 'i5')
    pairer.put_features(s(1), 'f1', now=0.0)
    pairer.put_features(s(2), 'f2', now=0.0)
    assert pairer.drain() == ['f1', 'f2'] and len(pairer) == 0
    assert pairer.put_features(s(5), 'f5', now=0.0) == []       # i5 was forgotten


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='capacity'):
        StampPairer(capacity=0)
    with pytest.raises(ValueError, match='wait'):
        StampPairer(capacity=1, wait=0.0)


def test_stamp_of_reads_a_header():
    class Stamp:
        sec, nanosec = 7, 9

    class Header:
        stamp = Stamp()

    assert stamp_of(Header()) == (7, 9)


class ReferencePairer:
    """The same rules on plain lists, written from the module's docstring."""

    def __init__(self, capacity: int, wait: float) -> None:
        self.capacity, self.wait = capacity, wait
        self.images: list[tuple] = []    # (stamp, image), oldest first
        self.waiting: list[tuple] = []   # (stamp, features, arrival)

    def put_features(self, stamp, features, now):
        for i, (stamp_i, image) in enumerate(self.images):
            if stamp_i == stamp:
                del self.images[i]
                out = [(w[1], None) for w in self.waiting] + [(features, image)]
                self.waiting = []
                return out
        self.waiting.append((stamp, features, now))
        out = []
        while len(self.waiting) > self.capacity:
            out.append((self.waiting.pop(0)[1], None))
        return out

    def put_image(self, stamp, image):
        stamps = [w[0] for w in self.waiting]
        if stamp in stamps:
            i = stamps.index(stamp)
            out = [(w[1], None) for w in self.waiting[:i]] + [(self.waiting[i][1], image)]
            self.waiting = self.waiting[i + 1:]
            return out
        self.images.append((stamp, image))
        self.images = self.images[-self.capacity:]
        return []

    def expire(self, now):
        out = []
        while self.waiting and now - self.waiting[0][2] >= self.wait:
            out.append((self.waiting.pop(0)[1], None))
        return out


@pytest.mark.parametrize('seed', range(5))
def test_random_streams_match_the_reference_and_lose_no_features(seed):
    """Frames with lost and late images, features and images jittered; unique stamps."""
    rng = np.random.default_rng(seed)
    capacity, wait = int(rng.integers(1, 6)), 0.3
    pairer, reference = StampPairer(capacity, wait), ReferencePairer(capacity, wait)
    events = []   # (time, kind, frame)
    for frame in range(200):
        t = 0.1 * frame
        events.append((t + rng.uniform(0, 0.25), 'features', frame))
        if rng.uniform() > 0.2:                                     # 20 % of images lost
            events.append((t + rng.uniform(0, 0.4), 'image', frame))
        events.append((t + 0.05, 'expire', frame))
    events.sort()
    emitted = []
    for now, kind, frame in events:
        if kind == 'features':
            got = pairer.put_features(s(frame), frame, now)
            assert got == reference.put_features(s(frame), frame, now)
        elif kind == 'image':
            got = pairer.put_image(s(frame), -frame)
            assert got == reference.put_image(s(frame), -frame)
        else:
            got = pairer.expire(now)
            assert got == reference.expire(now)
        emitted += got
    assert all(image is None or image == -features for features, image in emitted)
    left = pairer.drain()
    arrival = [frame for _, kind, frame in events if kind == 'features']
    assert [f for f, _ in emitted] + left == arrival    # each exactly once, in arrival order
    assert sum(image is not None for _, image in emitted) > 100
