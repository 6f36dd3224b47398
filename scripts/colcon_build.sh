#!/usr/bin/env bash
# Builds the elf_ros package with colcon against the venv underlay.
# Usage: colcon_build.sh SOURCE_DIR WORKSPACE_DIR [SUFFIX]
# (build/, install/, log/ go under WORKSPACE_DIR; SUFFIX, e.g. -jazzy, names them build-jazzy/ ...)
# Expects scripts/ros_env.sh to be sourced (the venv on PATH, AMENT_PREFIX_PATH set).
set -euo pipefail
src="$(cd "$1" && pwd)"
ws="$(mkdir -p "$2" && cd "$2" && pwd)"
suffix="${3:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ws"
colcon --log-base "$ws/log$suffix" build \
  --base-paths "$src" \
  --build-base "$ws/build$suffix" \
  --install-base "$ws/install$suffix" \
  --event-handlers console_direct- summary+ \
  --cmake-args \
    -DBUILD_TESTING=OFF \
    "-DPython3_EXECUTABLE=$(command -v python)" \
    "-DCMAKE_PROJECT_INCLUDE=$here/cmake/pip_wheel_fixups.cmake"
