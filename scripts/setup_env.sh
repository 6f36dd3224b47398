#!/usr/bin/env bash
# Prepares a fresh machine of ours for elf_ros: a venv holding ROS 2 Kilted (PyPI wheels), torch,
# OpenCV, colcon and the test tools, then a colcon build of this package against that venv.
# Idempotent: each step is skipped while the inputs it depends on are unchanged.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$("$root/scripts/venv_path.sh")"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
stamps="$venv/.elf_ros_stamps"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
log() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$python" -m venv "$venv"
fi
mkdir -p "$stamps"

deps_hash=$(hash_of requirements/*.txt scripts/setup_env.sh)
if [ "$(cat "$stamps/deps" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing pinned dependencies (first time: about 2 minutes)"
  # opencv-python-headless and the contrib build share the cv2 folder: never keep both.
  if "$venv/bin/python" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    "$venv/bin/python" -m pip uninstall -y -q opencv-python-headless opencv-contrib-python-headless
  fi
  # This machine's pip config names local mirror folders that may be absent: drop that noise.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -c requirements/constraints.txt -r requirements/dev.txt 2>&1 \
    | { grep -v "^WARNING: Location 'file://" || true; }
  echo "$deps_hash" > "$stamps/deps"
else
  log "dependencies up to date"
fi

# shellcheck source=scripts/ros_env.sh
ELF_ROS_SKIP_INSTALL_OVERLAY=1 source "$root/scripts/ros_env.sh"

# Everything that ends up in install/: tracked and new (not ignored) files of the package.
build_hash=$(git ls-files -z -co --exclude-standard -- package.xml CMakeLists.txt cmake msg scripts \
  elf_ros launch config | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/build" 2>/dev/null)" != "$build_hash" ] || [ ! -f install/setup.bash ]; then
  log "colcon build"
  "$root/scripts/colcon_build.sh" "$root" "$root"
  echo "$build_hash" > "$stamps/build"
else
  log "colcon build up to date"
fi
log "ready: source scripts/ros_env.sh to use it"
