"""`python -m elf_ros.eval.steadiness` runs the keypoint-steadiness measurement."""
import sys

from elf_ros.eval.steadiness.cli import main

sys.exit(main())
