#!/usr/bin/env bash
# Prints where this checkout's venv lives: $ELF_ROS_VENV, else one per checkout under ~/.cache.
# It must live outside the source tree: CMake refuses exported include folders inside it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${ELF_ROS_VENV:-}" ]; then
  echo "$ELF_ROS_VENV"
else
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/elf_ros/venv-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
fi
