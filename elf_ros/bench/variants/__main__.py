"""`python -m elf_ros.bench.variants` runs the variant timing's command line."""
import sys

from elf_ros.bench.variants.cli import main

sys.exit(main())
