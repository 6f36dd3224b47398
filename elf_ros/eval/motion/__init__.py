"""
Relative-pose benchmark of ELF and classical features (no ROS import; docs/motion.md).

Laid out like the homography evaluation: the runs (`runner`), their summaries and the SIFT
target (`summary`), the Markdown report (`report`), figures (`plots`) and the command line
(`cli`; `elf-motion`, `python -m elf_ros.eval.motion`).
"""
from elf_ros.eval.motion.runner import (
    chained_rotation_angles,
    evaluate_pair,
    GAPS,
    MAX_ERROR_DEG,
    MIN_INLIERS,
    PairResult,
    Run,
    run_method,
)
from elf_ros.eval.motion.summary import motion_targets, summarise, table_rows, verdicts

__all__ = ['GAPS', 'MAX_ERROR_DEG', 'MIN_INLIERS', 'PairResult', 'Run',
           'chained_rotation_angles', 'evaluate_pair', 'motion_targets', 'run_method',
           'summarise', 'table_rows', 'verdicts']
