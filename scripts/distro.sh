# shellcheck shell=bash
# Sourced by setup_env.sh and ros_env.sh: the ROS 2 distro of this setup and where its build goes.
# ELF_ROS_DISTRO: kilted (default) or jazzy. Each distro has its own venv (scripts/venv_path.sh)
# and its own colcon folders: Kilted build/ and install/, Jazzy build-jazzy/ and install-jazzy/
# (messages generated for one distro's rosidl do not load in the other's).
ELF_ROS_DISTRO="${ELF_ROS_DISTRO:-kilted}"
case "$ELF_ROS_DISTRO" in
  kilted) _elf_ws_suffix="" ;;
  jazzy) _elf_ws_suffix="-jazzy" ;;
  *) echo "elf_ros: ELF_ROS_DISTRO=$ELF_ROS_DISTRO is not supported; use kilted or jazzy" >&2
     return 1 2>/dev/null || exit 1 ;;
esac
export ELF_ROS_DISTRO
# The distro of the ROS wheels installed in a venv, from rclpy's major version ('' if none).
elf_venv_distro() {
  "$1/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
major = int(version('ros-rclpy').split('.')[0])
print({9: 'kilted', 7: 'jazzy'}.get(major, f'rclpy-{major}'))
PY
}
