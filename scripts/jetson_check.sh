#!/usr/bin/env bash
# The on-robot check, run on the Jetson itself: environment, a profile of a preset on every backend available
# there, and a qualification against a spec. Use a venv made with --system-site-packages so that JetPack's
# TensorRT and onnxruntime-gpu are visible (see README), with deployprof installed: pip install -e ".[jetson,export]".
# Usage: scripts/jetson_check.sh [PRESET] [SPEC.yaml] [OUTDIR]     (defaults: pi0-small, a 10 Hz / chunk 50 spec)
set -uo pipefail
cd "$(dirname "$0")/.."
PRESET="${1:-pi0-small}"
SPEC="${2:-}"
OUT="${3:-out/jetson_check}"
DP="${DEPLOYPROF:-deployprof}"
command -v "$DP" >/dev/null || DP="python3 -m deployprof"
mkdir -p "$OUT"
fails=0
step() { echo; echo "=== $1"; shift; "$@" || { echo "!!! FAILED (exit $?): $*"; fails=$((fails + 1)); }; }

model="$( { tr -d '\0' </proc/device-tree/model; } 2>/dev/null || echo unknown)"  # not a Jetson: no such file
case "$model" in
  *"AGX Orin"*) TARGET=jetson-agx-orin-64gb ;;
  *"Orin NX"*) TARGET=jetson-orin-nx-16gb ;;
  *"Orin Nano"*) TARGET=jetson-orin-nano-8gb ;;
  *Thor*) TARGET=jetson-thor ;;
  *) TARGET=cpu; echo "warning: '$model' is not a Jetson this script knows; using the generic cpu profile" ;;
esac
if [ -z "$SPEC" ]; then
  SPEC="$OUT/spec.yaml"
  cat >"$SPEC" <<YAML
control: {rate_hz: 10, chunk: 50}      # the next chunk ready before the current one has played
latency_ms: {p99: 100}
memory: {headroom_pct: 30}             # leave 30% of the board's memory to the rest of the robot stack
target: $TARGET
YAML
fi

step "platform" bash -c "echo model: $model; cat /etc/nv_tegra_release 2>/dev/null; nvpmodel -q 2>/dev/null; jetson_clocks --show 2>/dev/null | grep -E '^(GPU|EMC)' || echo 'jetson_clocks --show needs root'"
step "tegrastats (2 samples)" timeout 3 tegrastats --interval 1000
step "deployprof backends" $DP backends --no-self-test
step "TensorRT first-contact self-test (3-layer engine, fp32/fp16, vs ONNX Runtime, cache, IProfiler)" $DP backends --self-test
step "profile $PRESET (fp32 + fp16, every backend available here)" $DP profile "$PRESET" --out "$OUT/profile" \
  --backends trt,ort-trt,ort-cuda,torch,ort-cpu --skip-unavailable --precisions fp16 --device cuda \
  --duration 10 --target "$TARGET"
step "roofline floor for $PRESET on $TARGET" $DP predict "$OUT/profile/export" --target "$TARGET" --precisions fp32,fp16
step "control loop at 10 Hz for 20 s (deadline misses, latency after idle)" $DP profile "$OUT/profile/export" \
  --out "$OUT/rate" --backends trt,ort-trt,ort-cuda,ort-cpu --skip-unavailable --rate 10 --duration 20 --idle-gaps 1,5
step "qualify (measured)" $DP qualify --spec "$SPEC" "$OUT/profile"
echo
echo "reports: $OUT/profile/report.html, $OUT/rate/report.html"
echo "jetson_check: $fails step(s) failed"
exit $((fails > 0))
