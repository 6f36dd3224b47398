#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up (idempotent), then pytest with DDS on loopback.
# Extra arguments go to pytest, e.g. scripts/run_tests.sh test/core -k nms
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup_env.sh"
# shellcheck source=scripts/ros_env.sh
source "$root/scripts/ros_env.sh"
cd "$root"
exec python -m pytest "$@"
