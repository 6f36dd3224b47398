"""`python -m elf_ros.eval.scale_study` runs the scale study's command line."""
import sys

from elf_ros.eval.scale_study.cli import main

sys.exit(main())
