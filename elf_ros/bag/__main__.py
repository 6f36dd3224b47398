"""`python -m elf_ros.bag`: same as the `elf-bag` command."""
import sys

from elf_ros.bag.cli import main

sys.exit(main())
