#!/usr/bin/env bash
# Prints where this checkout's venv lives: $ELF_ROS_VENV, else one per checkout and ROS distro
# under ~/.cache (Kilted keeps the historical name, other distros add -<distro>).
# It must live outside the source tree: CMake refuses exported include folders inside it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
distro="${ELF_ROS_DISTRO:-kilted}"
if [ -n "${ELF_ROS_VENV:-}" ]; then
  echo "$ELF_ROS_VENV"
else
  suffix=""
  [ "$distro" = kilted ] || suffix="-$distro"
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/elf_ros/venv-$(printf '%s' "$root" | sha256sum | cut -c1-12)$suffix"
fi
