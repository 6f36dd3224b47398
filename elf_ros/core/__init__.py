"""
The ELF detector core: PyTorch only, no ROS import (see docs/core.md).

This facade is the core's public interface: code outside elf_ros.core imports from here, not
from the submodules. Add a new public name to the imports (sorted) and to its group in `__all__`.
"""
import os

# Before torch is first imported: let its CPU allocator put large tensors in transparent huge
# pages. VGG activations at 640x480 otherwise cost ~270k page faults per frame here (~14k with
# it). Opt out with THP_MEM_ALLOC_ENABLE=0; no effect when torch was imported earlier.
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

# ruff: noqa: E402 - the imports below must follow the environment default above
from elf_ros.core import benchmark, descriptor_codec, runtime_compare
from elf_ros.core.camera_model import CameraModel, CameraModelError
from elf_ros.core.config import (
    ConfigError,
    DetectorConfig,
    FIELD_KINDS,
    FIELD_SPECS,
    FieldSpec,
    parse_assignment,
    parse_assignments,
    parse_field,
    parse_typed,
    RUNTIME_FIELDS,
    RUNTIMES,
)
from elf_ros.core.detector import detect_each, ElfDetector, ElfResult, resolve_device
from elf_ros.core.export import export_front_end
from elf_ros.core.forward_gradient import UnsupportedLayerError
from elf_ros.core.matching import (
    match_batch,
    match_descriptors,
    match_upright_or_oriented,
    Matches,
)
from elf_ros.core.opencv_descriptors import OPENCV_DESCRIPTORS, opencv_descriptors
from elf_ros.core.orientation import NOT_ESTIMATED_ANGLE, NOT_ESTIMATED_SIZE
from elf_ros.core.pose import (
    direction_error_deg,
    estimate_relative_pose,
    MIN_POINTS,
    RelativePose,
    rotation_error_deg,
)
from elf_ros.core.presets import DEFAULT_PRESET, load_preset, PRESETS
from elf_ros.core.refine import (
    affines_from_homography,
    as_gray_u8,
    MatchedPoints,
    refine_matches,
    refine_stage,
    RefineConfig,
    Refined,
)
from elf_ros.core.runtime import RuntimeUnavailableError, set_cpu_threads
from elf_ros.core.stages import profile_stages, StageClock
from elf_ros.core.timing import call_times, median_ms
from elf_ros.core.tracking import (
    fundamental_inliers,
    spread_select,
    TrackerConfig,
    TrackFrame,
    TrackManager,
)
from elf_ros.core.vins_format import (
    FUSION_CHANNELS,
    ids_exact,
    MONO_CHANNELS,
    vins_columns,
    VINS_LAYOUTS,
    VinsColumns,
)
from elf_ros.core.weights import WeightsError

__all__ = [
    # configuration
    'ConfigError', 'DEFAULT_PRESET', 'DetectorConfig', 'FIELD_KINDS', 'FIELD_SPECS', 'FieldSpec',
    'PRESETS', 'RUNTIME_FIELDS', 'load_preset', 'parse_assignment', 'parse_assignments',
    'parse_field', 'parse_typed', 'RUNTIMES',
    # detection
        'ElfDetector', 'ElfResult', 'NOT_ESTIMATED_ANGLE', 'NOT_ESTIMATED_SIZE', 'WeightsError',
    'detect_each', 'resolve_device',
    # runtimes and export (docs/core.md "Runtimes and the exported front end")
    'RuntimeUnavailableError', 'UnsupportedLayerError', 'export_front_end', 'set_cpu_threads',
    # descriptors
    'Matches', 'OPENCV_DESCRIPTORS', 'descriptor_codec', 'match_batch', 'match_descriptors',
    'match_upright_or_oriented', 'opencv_descriptors',
    # geometry
    'MIN_POINTS', 'RelativePose', 'direction_error_deg', 'estimate_relative_pose',
    'rotation_error_deg',
    # tracks (VO/SLAM front end)
    'CameraModel', 'CameraModelError', 'FUSION_CHANNELS', 'MONO_CHANNELS', 'TrackFrame',
    'TrackManager', 'TrackerConfig', 'VINS_LAYOUTS', 'VinsColumns', 'fundamental_inliers',
    'ids_exact', 'spread_select', 'vins_columns',
    # benchmarks (the detector benchmark's measurements; its command line is elf_ros.bench)
    'benchmark', 'call_times', 'median_ms', 'profile_stages', 'runtime_compare', 'StageClock',
    # match refinement
    'MatchedPoints', 'RefineConfig', 'Refined', 'affines_from_homography', 'as_gray_u8',
    'refine_matches', 'refine_stage',
]
