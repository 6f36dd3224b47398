"""`python -m elf_ros.export` runs elf-export."""
import sys

from elf_ros.export.cli import main

sys.exit(main())
