"""`python -m elf_ros.bag.benchmark`."""
import sys

from elf_ros.bag.benchmark.cli import main

sys.exit(main())
