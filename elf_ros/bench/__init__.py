"""`elf-bench`: the detector benchmark's command line (measurements: elf_ros.core.benchmark)."""
