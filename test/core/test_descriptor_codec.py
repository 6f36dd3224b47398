"""Compact descriptor payloads against numpy references."""
import numpy as np
import pytest

from elf_ros.core import descriptor_codec as codec


def _unit_rows(n: int, d: int) -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_float16_matches_numpy_rounding():
    d = _unit_rows(50, 64)
    np.testing.assert_array_equal(codec.round_trip(d, 'float16'),
                                  d.astype(np.float16).astype(np.float32))


def test_uint8_codes_follow_the_documented_formula():
    d = _unit_rows(40, 32)
    payload, scale = codec.encode(d, 'uint8')
    assert scale == pytest.approx(127 / np.abs(d).max())
    codes = np.frombuffer(payload, np.uint8).reshape(d.shape)
    expected = np.clip(np.rint(d * scale) + 128, 0, 255)
    np.testing.assert_array_equal(codes, expected)
    assert codes.min() >= 1  # the scale leaves no clipping
    back = codec.decode(payload, 'uint8', 40, 32, scale)
    np.testing.assert_allclose(back, (codes.astype(np.float32) - 128) / scale)
    assert np.abs(back - d).max() <= 0.5 / scale + 1e-7


def test_nearest_neighbours_survive_compact_formats():
    d = _unit_rows(200, 128)
    noisy = d + 0.05 * np.random.default_rng(4).standard_normal(d.shape).astype(np.float32)
    ref = np.argmin(((d[:, None] - noisy[None]) ** 2).sum(-1), axis=1)
    for fmt in codec.FORMATS:
        a, b = codec.round_trip(d, fmt), codec.round_trip(noisy, fmt)
        nn = np.argmin(((a[:, None] - b[None]) ** 2).sum(-1), axis=1)
        assert (nn == ref).mean() >= 0.99, fmt


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match='allowed float32, float16, uint8'):
        codec.check_format('int4')
    with pytest.raises(ValueError, match='expected 3x4'):
        codec.decode(b'\x00' * 5, 'uint8', 3, 4, 1.0)
    with pytest.raises(ValueError, match='positive descriptor_scale'):
        codec.decode(b'\x00' * 12, 'uint8', 3, 4, 0.0)
    assert codec.round_trip(np.zeros((0, 8), np.float32), 'uint8').shape == (0, 8)
