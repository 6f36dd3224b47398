"""
Compact descriptor payloads (Features.msg): float32, float16 or uint8 codes, and back.

Why here and not in the ROS code: the evaluation measures what each format costs in matching
score without importing ROS, and both must use the same maths.

uint8 codes: ``q = clip(round(v * scale) + 128, 0, 255)``, dequantised as
``v = (q - 128) / scale``. The scale is chosen per message as ``127 / max|v|`` (the largest
magnitude of any value in it), so nothing clips and the step is as fine as 8 bits allow.
Dequantised rows are unit length to within half a step per value (not re-normalised).
"""
from __future__ import annotations

import numpy as np
import torch

FORMATS = ('float32', 'float16', 'uint8')
# The one table from format names to Features.msg's descriptor_format constants (FLOAT32 = 0,
# FLOAT16 = 1, UINT8 = 2; test/package checks it against msg/Features.msg).
FORMAT_CODES = {'float32': 0, 'float16': 1, 'uint8': 2}
FORMAT_NAMES = {code: name for name, code in FORMAT_CODES.items()}
UINT8_ZERO = 128
UINT8_RANGE = 127  # largest |code - 128| the scale maps max|v| to


def check_format(name: str) -> str:
    """Return the canonical format name or raise ValueError with the allowed ones."""
    key = str(name).strip().lower()
    if key not in FORMATS:
        raise ValueError(f'descriptor_format: allowed {", ".join(FORMATS)}; got {name!r}')
    return key


def format_code(name: str) -> int:
    """Features.msg descriptor_format code of a format name; ValueError naming the allowed."""
    return FORMAT_CODES[check_format(name)]


def format_name(code: int) -> str:
    """Format name of a Features.msg descriptor_format code; ValueError for an unknown code."""
    try:
        return FORMAT_NAMES[int(code)]
    except KeyError:
        raise ValueError(f'unknown descriptor_format {code}; known: ' + ', '.join(
            f'{c} ({n})' for c, n in FORMAT_NAMES.items())) from None


def uint8_scale(descriptors: np.ndarray) -> float:
    """Return the per-message scale: 127 / max|v| (1.0 for an empty or all-zero payload)."""
    peak = float(np.abs(descriptors).max()) if descriptors.size else 0.0
    return UINT8_RANGE / peak if peak > 0 else 1.0


def encode(descriptors: np.ndarray, fmt: str) -> tuple[bytes, float]:
    """(N, D) float descriptors -> (little-endian payload bytes, uint8 scale or 0)."""
    fmt = check_format(fmt)
    desc = np.ascontiguousarray(descriptors, dtype=np.float32)
    if fmt == 'float32':
        return desc.astype('<f4', copy=False).tobytes(), 0.0
    if fmt == 'float16':
        # torch converts to half ~10x faster than numpy (vectorised); both round to nearest.
        return torch.from_numpy(desc).half().numpy().astype('<f2', copy=False).tobytes(), 0.0
    scale = uint8_scale(desc)
    work = desc * np.float32(scale)  # in place from here: one temporary for the whole payload
    np.rint(work, out=work)
    work += UINT8_ZERO
    np.clip(work, 0, 255, out=work)
    return work.astype(np.uint8).tobytes(), scale


def decode(payload: bytes | memoryview | np.ndarray, fmt: str, rows: int, cols: int,
           scale: float = 0.0) -> np.ndarray:
    """Payload -> (rows, cols) float32 (uint8: ``(q - 128) / scale``)."""
    fmt = check_format(fmt)
    dtype = {'float32': '<f4', 'float16': '<f2', 'uint8': np.uint8}[fmt]
    raw = np.frombuffer(payload, dtype=dtype)
    if raw.size != rows * cols:
        raise ValueError(f'{fmt} payload holds {raw.size} values, expected {rows}x{cols}')
    values = raw.reshape(rows, cols).astype(np.float32)
    if fmt != 'uint8':
        return values
    if scale <= 0:
        raise ValueError(f'uint8 descriptors need a positive descriptor_scale, got {scale}')
    return (values - UINT8_ZERO) / np.float32(scale)


def decode_features(msg) -> np.ndarray:
    """
    (N, D) float32 descriptors of a Features message (rclpy's or rosbags', read by field name).

    float16 payloads are widened, uint8 codes dequantised; an unknown format code is a
    ValueError, never guessed.
    """
    fmt = format_name(msg.descriptor_format)
    payload = msg.descriptors if fmt == 'float32' else msg.descriptor_bytes
    return decode(payload, fmt, len(msg.scores), int(msg.descriptor_length),
                  float(msg.descriptor_scale))


def round_trip(descriptors: np.ndarray, fmt: str) -> np.ndarray:
    """Return what a consumer of a ``fmt`` message gets back for these float descriptors."""
    desc = np.asarray(descriptors, dtype=np.float32)
    rows, cols = desc.shape if desc.ndim == 2 else (0, 0)
    payload, scale = encode(desc.reshape(rows, cols), fmt)
    return decode(payload, fmt, rows, cols, scale)
