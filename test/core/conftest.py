"""Shared fixtures for the core tests: small textured images and a small random-weight detector."""
import cv2
import numpy as np
import pytest

from elf_ros.core import DetectorConfig, ElfDetector


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Make a deterministic RGB image with blobs and edges at several scales (no photo needed)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale in (3, 7, 15):
        noise = rng.random((h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def small_config(**kw) -> DetectorConfig:
    """Random VGG16 pool2/pool3 with the paper's post-processing, scaled for small images."""
    base = dict(backbone='vgg16', weights='random', device='cpu', nms_radius=4, border=4,
                max_keypoints=200)
    base.update(kw)
    return DetectorConfig(**base)


@pytest.fixture(scope='module')
def detector() -> ElfDetector:
    return ElfDetector(small_config())


@pytest.fixture
def image() -> np.ndarray:
    return textured(96, 128)
