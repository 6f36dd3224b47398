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


def test_format_codes_are_the_features_message_constants():
    """The one name -> code table agrees with msg/Features.msg (what rosidl and rosbags use)."""
    from pathlib import Path
    import re

    from elf_ros.core.descriptor_codec import format_code, FORMAT_CODES, format_name
    text = (Path(__file__).resolve().parents[2] / 'msg' / 'Features.msg').read_text()
    constants = {m[1].lower(): int(m[2])
                 for m in re.finditer(r'^uint8 (FLOAT32|FLOAT16|UINT8) = (\d+)', text, re.M)}
    assert constants == FORMAT_CODES
    for name, code in constants.items():
        assert format_code(f' {name.upper()} ') == code and format_name(code) == name


def test_unknown_format_code_is_an_error_not_a_guess():
    pytest.importorskip('rosbags', reason='rosbags builds the message without ROS')
    from elf_ros.bag.typestore import elf_typestore, FEATURES
    from elf_ros.core.descriptor_codec import decode_features
    store = elf_typestore()
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='')
    msg = store.types[FEATURES](
        header=header, image_width=8, image_height=8, keypoints=np.zeros(2, np.float32),
        scores=np.full(1, 0.5, np.float32), sizes=np.zeros(1, np.float32),
        angles=np.full(1, -1, np.float32), backbone='', layer='', descriptor_length=4,
        descriptor_format=7, descriptors=np.zeros(0, np.float32),
        descriptor_bytes=np.full(4, 128, np.uint8), descriptor_scale=1.0)
    with pytest.raises(ValueError, match=r'unknown descriptor_format 7; known: 0 \(float32\)'):
        decode_features(msg)
    msg.descriptor_format = 2  # the same fields with a known code decode
    np.testing.assert_array_equal(decode_features(msg), np.zeros((1, 4), np.float32))
