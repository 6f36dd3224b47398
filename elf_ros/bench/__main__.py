"""`python -m elf_ros.bench` runs the detector benchmark's command line."""
import sys

from elf_ros.bench.cli import main

sys.exit(main())
