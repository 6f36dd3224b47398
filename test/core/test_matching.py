"""Core matcher against a brute-force reference written with plain loops."""
import math

import numpy as np
import pytest

from elf_ros.core.matching import match_batch, match_descriptors


def brute_force(d1, d2, mutual=True, ratio=1.0, max_distance=math.inf, hamming=False):
    def dist(a, b):
        if hamming:
            return float(np.unpackbits(np.bitwise_xor(a, b)).sum())
        return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum()))
    table = np.array([[dist(a, b) for b in d2] for a in d1])
    out = []
    for i in range(len(d1)):
        j = int(np.argmin(table[i]))
        if mutual and int(np.argmin(table[:, j])) != i:
            continue
        if ratio < 1 and len(d2) > 1 and not table[i, j] < ratio * np.sort(table[i])[1]:
            continue
        if table[i, j] > max_distance:
            continue
        out.append((i, j, table[i, j]))
    return out


def normalised(rng, n, d=32):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize('mutual,ratio,max_distance', [
    (True, 1.0, math.inf), (False, 1.0, math.inf), (True, 0.9, math.inf),
    (False, 0.8, 1.2), (True, 1.0, 1.0)])
def test_float_matches_equal_brute_force(mutual, ratio, max_distance):
    rng = np.random.default_rng(3)
    d1 = normalised(rng, 40)
    d2 = np.concatenate([d1[:25] + 0.1 * normalised(rng, 25), normalised(rng, 30)])
    got = match_descriptors(d1, d2, mutual=mutual, ratio=ratio, max_distance=max_distance)
    want = brute_force(d1, d2, mutual, ratio, max_distance)
    assert [tuple(p) for p in got.pairs.tolist()] == [(i, j) for i, j, _ in want]
    np.testing.assert_allclose(got.distances, [d for _, _, d in want], atol=1e-4)
    assert len(got) > 10  # the perturbed copies are found


def test_binary_descriptors_use_hamming():
    rng = np.random.default_rng(1)
    d1 = rng.integers(0, 256, (30, 32), dtype=np.uint8)
    d2 = d1.copy()
    flips = rng.integers(0, 32, 30)
    d2[np.arange(30), flips] ^= 1                 # one bit differs per row
    d2 = d2[::-1].copy()
    got = match_descriptors(d1, d2)
    want = brute_force(d1, d2, hamming=True)
    assert [tuple(p) for p in got.pairs.tolist()] == [(i, j) for i, j, _ in want]
    assert np.all(got.distances == 1.0)
    assert np.all(got.pairs[:, 1] == 29 - got.pairs[:, 0])


def test_batch_of_uneven_sets_equals_pairs_one_by_one():
    rng = np.random.default_rng(2)
    pairs = [(normalised(rng, n), normalised(rng, m)) for n, m in ((5, 9), (17, 3), (12, 12))]
    pairs.append((normalised(rng, 0), normalised(rng, 4)))
    batch = match_batch(pairs, ratio=0.95)
    for (a, b), got in zip(pairs, batch, strict=True):
        one = match_descriptors(a, b, ratio=0.95)
        assert np.array_equal(got.pairs, one.pairs)
        np.testing.assert_allclose(got.distances, one.distances, atol=1e-5)
    assert len(batch[3]) == 0


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match='ratio'):
        match_descriptors(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32), ratio=0)
    with pytest.raises(ValueError, match='differ'):
        match_descriptors(np.zeros((2, 4), np.float32), np.zeros((2, 5), np.float32))
