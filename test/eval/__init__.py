"""Tests of the evaluation tool (elf_ros.eval)."""
