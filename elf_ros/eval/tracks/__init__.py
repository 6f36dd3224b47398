"""
Tracking benchmark of ELF tracks against VINS's KLT front end and SIFT (no ROS; docs/tracking.md).

On sequences with ground-truth poses (KITTI, TUM or generic folders, elf_ros/eval/sequences.py)
it runs, at the same budget of living tracks (MAX_CNT) and minimum spacing (MIN_DIST):
- ``elf``: ELF detections through the core track manager with its defaults (mutual NN, LK
  refinement, F-RANSAC, LK bridging of up to 2 frames without a matched detection);
- ``elf-nobridge``: the same without bridging (every observation is a matched ELF detection);
- ``elf-nolk``: descriptor matches only (no refinement, no bridging);
- ``sift``: SIFT detections through the same track manager;
- ``klt``: VINS's own front end rebuilt with OpenCV (``klt``).
Numbers per method (``metrics``): tracks per frame, median / 90th-percentile track length, share
of tracks living >= 5 frames, Sampson distance of every tracked correspondence under the true
relative pose, reprojection error after triangulating tracks >= 3 frames with the true poses.
Laid out like the motion benchmark: ``runner``, ``report`` (Markdown, targets, plots), ``cli``
(``python -m elf_ros.eval.tracks``, ``make tracks``).
"""
from elf_ros.eval.tracks.klt import KltConfig, KltFrame, KltTracker
from elf_ros.eval.tracks.metrics import summary
from elf_ros.eval.tracks.report import markdown, verdicts, write_plots
from elf_ros.eval.tracks.runner import METHODS, Run, run_sequence, Settings

__all__ = ['KltConfig', 'KltFrame', 'KltTracker', 'METHODS', 'Run', 'Settings', 'markdown',
           'run_sequence', 'summary', 'verdicts', 'write_plots']
