"""`python -m elf_ros.eval.refinement`."""
import sys

from elf_ros.eval.refinement.cli import main

sys.exit(main())
