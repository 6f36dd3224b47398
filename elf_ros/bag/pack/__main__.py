"""`python -m elf_ros.bag.pack`."""
import sys

from elf_ros.bag.pack.cli import main

sys.exit(main())
