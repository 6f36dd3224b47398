"""`python -m elf_ros.eval.tracks` runs the tracking benchmark's command line."""
import sys

from elf_ros.eval.tracks.cli import main

sys.exit(main())
