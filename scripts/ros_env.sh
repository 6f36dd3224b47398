# shellcheck shell=bash
# Source this file to use the project's venv as a ROS 2 underlay, with DDS kept on this machine.
# Works from any directory; honours ELF_ROS_VENV and ELF_ROS_DISTRO (kilted | jazzy). Safe to
# source twice.
_elf_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/distro.sh
source "$_elf_root/scripts/distro.sh" || return 1 2>/dev/null || exit 1
export ROS_DISTRO="$ELF_ROS_DISTRO"
_elf_venv="$("$_elf_root/scripts/venv_path.sh")"
if [ ! -x "$_elf_venv/bin/python" ]; then
  echo "elf_ros: no venv at $_elf_venv; run scripts/setup_env.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
export VIRTUAL_ENV="$_elf_venv"
case ":$PATH:" in *":$_elf_venv/bin:"*) ;; *) export PATH="$_elf_venv/bin:$PATH" ;; esac
# The wheels install a ROS prefix (share/, lib/, ament index) into the venv itself.
export AMENT_PREFIX_PATH="$_elf_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_elf_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
# Non-Python programs (cmake, generated C code) need the wheels' library folders explicitly.
_elf_libs="$("$_elf_venv/bin/python" -c 'import ros_wheels_bootstrapper as b; p = b.get_ros_paths(); print(p if isinstance(p, str) else ":".join(p))' 2>/dev/null || true)"
if [ -n "$_elf_libs" ]; then
  export LD_LIBRARY_PATH="$_elf_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Never send discovery traffic to the network; a private domain unless the caller chose one.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 90) + 10 ))}"
if [ -z "${ELF_ROS_SKIP_INSTALL_OVERLAY:-}" ] && [ -f "$_elf_root/install$_elf_ws_suffix/setup.bash" ]; then
  # colcon's scripts read unset variables: relax `set -u` of a calling script while sourcing.
  case $- in *u*) _elf_nounset=1; set +u ;; *) _elf_nounset= ;; esac
  # shellcheck disable=SC1091
  source "$_elf_root/install$_elf_ws_suffix/setup.bash"
  [ -n "$_elf_nounset" ] && set -u
  unset _elf_nounset
fi
# Source checkout first, so edits are used without a rebuild; elf_ros.msg comes from install/.
case ":${PYTHONPATH:-}:" in *":$_elf_root:"*) ;; *) export PYTHONPATH="$_elf_root${PYTHONPATH:+:$PYTHONPATH}" ;; esac
unset _elf_root _elf_venv _elf_libs _elf_ws_suffix
unset -f elf_venv_distro
