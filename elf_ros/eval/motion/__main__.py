"""`python -m elf_ros.eval.motion` runs the relative-pose benchmark's command line."""
import sys

from elf_ros.eval.motion.cli import main

sys.exit(main())
