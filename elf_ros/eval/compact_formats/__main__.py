"""`python -m elf_ros.eval.compact_formats`."""
import sys

from elf_ros.eval.compact_formats.cli import main

sys.exit(main())
