"""The ELF detector core: PyTorch only, no ROS import (see docs/core.md)."""
from elf_ros.core.config import ConfigError, DetectorConfig, FIELD_SPECS, FieldSpec, RUNTIME_FIELDS
from elf_ros.core.detector import ElfDetector, ElfResult
from elf_ros.core.presets import load_preset, PRESETS
from elf_ros.core.weights import WeightsError

__all__ = ['ConfigError', 'DetectorConfig', 'ElfDetector', 'ElfResult', 'FIELD_SPECS',
           'FieldSpec', 'PRESETS', 'RUNTIME_FIELDS', 'WeightsError', 'load_preset']
