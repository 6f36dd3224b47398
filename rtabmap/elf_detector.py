#! /usr/bin/env python3
r"""
ELF keypoints and descriptors for RTAB-Map's Python detector (PyDetector).

RTAB-Map (corelib/src/python/PyDetector.cpp) imports this file by path, calls ``init(cuda)``
once (cuda: int 0/1, from PyDetector/Cuda) and then ``detect(image)`` per frame with a grey
(H, W) uint8 array; it expects ``(keypoints, descriptors)``: (N, 3) float32 rows
[x, y, response] and (N, D) float32 rows, both C-contiguous (it reads the raw buffers).

    rtabmap --Vis/FeatureType 15 --Kp/DetectorStrategy 15 \
        --PyDetector/Path $(ros2 pkg prefix elf_ros)/share/elf_ros/rtabmap/elf_detector.py

Settings (environment variables win over a YAML file):
- ``ELF_RTABMAP_CONFIG``: YAML file with keys ``preset``, ``params_file``, ``device`` and any
  detector field (e.g. ``max_keypoints: 1000``); default ``elf_detector.yaml`` next to this file
  when it exists.
- ``ELF_RTABMAP_PRESET`` (default efficientnet_lite1: its ImageNet weights ship with pip),
  ``ELF_RTABMAP_PARAMS_FILE`` (elf_node's YAML parameter file), ``ELF_RTABMAP_DEVICE``
  (default: cuda when init(1) and CUDA is present, else cpu), ``ELF_RTABMAP_MAX_KEYPOINTS``.
elf_ros must be importable by RTAB-Map's embedded Python (a sourced ROS workspace, or pip).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PRESET = 'efficientnet_lite1'
_detector = None


def settings() -> dict[str, Any]:
    """Read the YAML file's keys overlaid with the ELF_RTABMAP_* environment variables."""
    import yaml

    path = Path(os.environ.get('ELF_RTABMAP_CONFIG', '')
                or Path(__file__).with_name('elf_detector.yaml'))
    found: dict[str, Any] = {}
    if os.environ.get('ELF_RTABMAP_CONFIG') or path.is_file():
        data = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected a mapping of settings, got {type(data).__name__}')
        found.update(data)
    for key in ('preset', 'params_file', 'device', 'max_keypoints'):
        value = os.environ.get(f'ELF_RTABMAP_{key.upper()}')
        if value:
            found[key] = int(value) if key == 'max_keypoints' else value
    return found


def init(cuda) -> None:
    """Build the detector once (RTAB-Map passes 1 when PyDetector/Cuda is true)."""
    global _detector
    import torch

    from elf_ros.bag.params import make_config
    from elf_ros.core import ElfDetector

    found = settings()
    preset = found.pop('preset', None)
    params_file = found.pop('params_file', None)
    if 'device' not in found:
        found['device'] = 'cuda' if int(cuda) and torch.cuda.is_available() else 'cpu'
    if preset is None and params_file is None:
        preset = DEFAULT_PRESET
    torch.set_grad_enabled(False)
    config, _ = make_config(preset, Path(params_file) if params_file else None, found)
    _detector = ElfDetector(config)


def detect(image) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 grey -> ((N, 3) float32 [x, y, response], (N, D) float32 descriptors)."""
    if _detector is None:
        raise RuntimeError('elf_detector: detect() called before init()')
    pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f'elf_detector: expected a grey (H, W) uint8 image, got '
                         f'{pixels.shape} {pixels.dtype}')
    result = _detector.detect([np.ascontiguousarray(pixels)])[0]
    keypoints = np.empty((len(result), 3), np.float32)
    keypoints[:, :2] = result.keypoints
    keypoints[:, 2] = result.scores
    descriptors = np.ascontiguousarray(result.descriptors, dtype=np.float32).reshape(
        len(result), _detector.descriptor_dim)
    return keypoints, descriptors


if __name__ == '__main__':
    init(0)
    kps, desc = detect((np.random.default_rng(0).random((480, 640)) * 255).astype(np.uint8))
    print(kps.shape, kps.dtype, desc.shape, desc.dtype)
