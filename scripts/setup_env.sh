#!/usr/bin/env bash
# Prepares a fresh machine of ours for elf_ros: a venv holding ROS 2 (PyPI wheels), torch,
# OpenCV, colcon and the test tools, then a colcon build of this package against that venv.
# ELF_ROS_DISTRO=kilted (default) or jazzy picks the distro: one venv and one build per distro.
# Idempotent: each step is skipped while the inputs it depends on are unchanged.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/distro.sh
source "$root/scripts/distro.sh"
ws_suffix="$_elf_ws_suffix"
venv="$("$root/scripts/venv_path.sh")"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
stamps="$venv/.elf_ros_stamps"

log() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$python" -m venv "$venv"
fi
mkdir -p "$stamps"
have="$(elf_venv_distro "$venv")"
if [ -n "$have" ] && [ "$have" != "$ELF_ROS_DISTRO" ]; then
  echo "[setup] $venv holds ROS 2 $have, not ELF_ROS_DISTRO=$ELF_ROS_DISTRO: each distro needs its" \
       "own venv (unset ELF_ROS_VENV to use the default one, or point it at another folder)" >&2
  exit 1
fi

reqs=(requirements/ros-"$ELF_ROS_DISTRO".txt requirements/dev.txt requirements/core.txt
      requirements/constraints.txt requirements/constraints-ros-"$ELF_ROS_DISTRO".txt)
deps_hash=$( (echo "$ELF_ROS_DISTRO"; cat "${reqs[@]}" scripts/setup_env.sh) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/deps" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing pinned dependencies for ROS 2 $ELF_ROS_DISTRO (first time: about 2 minutes)"
  # opencv-python-headless and the contrib build share the cv2 folder: never keep both.
  if "$venv/bin/python" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    "$venv/bin/python" -m pip uninstall -y -q opencv-python-headless opencv-contrib-python-headless
  fi
  # This machine's pip config names local mirror folders that may be absent: drop that noise.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -c requirements/constraints.txt -c "requirements/constraints-ros-$ELF_ROS_DISTRO.txt" \
    -r "requirements/ros-$ELF_ROS_DISTRO.txt" -r requirements/dev.txt 2>&1 \
    | { grep -v "^WARNING: Location 'file://" || true; }
  echo "$deps_hash" > "$stamps/deps"
else
  log "dependencies up to date"
fi

# shellcheck source=scripts/ros_env.sh
ELF_ROS_SKIP_INSTALL_OVERLAY=1 source "$root/scripts/ros_env.sh"

# Everything that ends up in install/: tracked and new (not ignored) files of the package.
build_hash=$( (echo "$ELF_ROS_DISTRO"; git ls-files -z -co --exclude-standard -- package.xml \
  CMakeLists.txt cmake msg scripts elf_ros launch config | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
install="install$ws_suffix"
if [ "$(cat "$stamps/build" 2>/dev/null)" != "$build_hash" ] || [ ! -f "$install/setup.bash" ]; then
  log "colcon build ($ELF_ROS_DISTRO: build$ws_suffix/, $install/)"
  "$root/scripts/colcon_build.sh" "$root" "$root" "$ws_suffix"
  echo "$build_hash" > "$stamps/build"
else
  log "colcon build up to date"
fi
log "ready ($ELF_ROS_DISTRO): source scripts/ros_env.sh to use it"
