"""The ELF detector core: PyTorch only, no ROS import (see docs/core.md)."""
import os

# Before torch is first imported: let its CPU allocator put large tensors in transparent huge
# pages. VGG activations at 640x480 otherwise cost ~270k page faults per frame here (~14k with
# it). Opt out with THP_MEM_ALLOC_ENABLE=0; no effect when torch was imported earlier.
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

# ruff: noqa: E402 - the imports below must follow the environment default above
from elf_ros.core.config import ConfigError, DetectorConfig, FIELD_SPECS, FieldSpec, RUNTIME_FIELDS
from elf_ros.core.detector import ElfDetector, ElfResult
from elf_ros.core.presets import load_preset, PRESETS
from elf_ros.core.weights import WeightsError

__all__ = ['ConfigError', 'DetectorConfig', 'ElfDetector', 'ElfResult', 'FIELD_SPECS',
           'FieldSpec', 'PRESETS', 'RUNTIME_FIELDS', 'WeightsError', 'load_preset']
