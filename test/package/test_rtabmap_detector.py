"""The RTAB-Map PyDetector file, loaded and called the way RTAB-Map's PyDetector.cpp does."""
from __future__ import annotations

import importlib
from pathlib import Path
import sys

import cv2
import numpy as np
import pytest

from elf_ros.core import ElfDetector, load_preset

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / 'rtabmap' / 'elf_detector.py'
INSTALLED = REPO / 'install' / 'elf_ros' / 'share' / 'elf_ros' / 'rtabmap' / 'elf_detector.py'
FIELDS = {'input_width': 160, 'input_height': 120, 'max_keypoints': 200}


def load_like_rtabmap(path: Path):
    """sys.path.append(the file's folder); PyImport_Import(its stem), as PyDetector.cpp does."""
    folder = str(path.parent)
    sys.path.append(folder)
    sys.modules.pop(path.stem, None)
    try:
        return importlib.import_module(path.stem)
    finally:
        sys.path.remove(folder)


def grey_frame() -> np.ndarray:
    bgr = cv2.imread(str(sorted((REPO / 'data' / 'tum_fr2_desk').glob('*.png'))[0]))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def as_rtabmap_buffer(grey: np.ndarray) -> np.ndarray:
    """Wrap the pixels as PyArray_SimpleNewFromData does: (rows, cols) uint8, foreign memory."""
    return np.frombuffer(bytearray(grey.tobytes()), np.uint8).reshape(grey.shape)


@pytest.fixture
def configured(tmp_path, monkeypatch):
    config = tmp_path / 'elf.yaml'
    config.write_text('preset: random\n' + ''.join(f'{k}: {v}\n' for k, v in FIELDS.items()))
    monkeypatch.setenv('ELF_RTABMAP_CONFIG', str(config))
    for key in ('PRESET', 'PARAMS_FILE', 'DEVICE', 'MAX_KEYPOINTS'):
        monkeypatch.delenv(f'ELF_RTABMAP_{key}', raising=False)
    return config


def test_the_file_is_installed_with_the_package():
    if not INSTALLED.parent.parent.is_dir():
        pytest.skip('package not built here (scripts/setup_env.sh builds install/)')
    assert INSTALLED.read_bytes() == SOURCE.read_bytes()


def test_detect_returns_what_rtabmap_reads(configured):
    module = load_like_rtabmap(SOURCE)
    module.init(0)                                    # PyObject_CallFunction(init, "i", 0)
    grey = grey_frame()
    result = module.detect(as_rtabmap_buffer(grey))
    # PyDetector.cpp: a 2-tuple of arrays, kpts (N, 3) NPY_FLOAT, desc (N, dim) NPY_FLOAT,
    # read through their raw buffers.
    assert isinstance(result, tuple) and len(result) == 2
    kpts, desc = result
    assert kpts.dtype == np.float32 and desc.dtype == np.float32
    assert kpts.ndim == 2 and kpts.shape[1] == 3 and kpts.flags.c_contiguous
    assert desc.ndim == 2 and desc.shape[0] == kpts.shape[0] and desc.flags.c_contiguous
    assert 0 < len(kpts) <= FIELDS['max_keypoints']
    # Independent reference: the core detector with the same settings on the same image.
    reference = ElfDetector(load_preset('random', device='cpu', **FIELDS)).detect([grey])[0]
    np.testing.assert_allclose(kpts[:, :2], reference.keypoints, atol=1e-4)
    np.testing.assert_allclose(kpts[:, 2], reference.scores, atol=1e-6)
    np.testing.assert_allclose(desc, reference.descriptors, atol=1e-5)


def test_environment_overrides_the_yaml(configured, monkeypatch):
    monkeypatch.setenv('ELF_RTABMAP_MAX_KEYPOINTS', '25')
    module = load_like_rtabmap(SOURCE)
    module.init(1)                           # cuda asked: falls back to the CPU without CUDA
    kpts, desc = module.detect(as_rtabmap_buffer(grey_frame()))
    assert 0 < len(kpts) <= 25 and len(desc) == len(kpts)


def test_bad_calls_fail_with_the_reason(configured):
    module = load_like_rtabmap(SOURCE)
    with pytest.raises(RuntimeError, match='before init'):
        module.detect(as_rtabmap_buffer(grey_frame()))
    module.init(0)
    with pytest.raises(ValueError, match='grey'):
        module.detect(np.zeros((120, 160, 3), np.uint8))
    kpts, desc = module.detect(np.zeros((120, 160), np.uint8))   # nothing to find
    assert kpts.shape == (0, 3) and desc.shape[0] == 0 and desc.dtype == np.float32
