"""`python -m elf_ros.eval` runs the evaluation command line."""
import sys

from elf_ros.eval.cli import main

sys.exit(main())
