"""`python -m elf_ros.eval.scoreboard`."""
import sys

from elf_ros.eval.scoreboard.cli import main

sys.exit(main())
