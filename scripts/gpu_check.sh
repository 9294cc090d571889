#!/usr/bin/env bash
# Everything GPU-side deployprof can verify, in one call, on a machine with an NVIDIA GPU.
# Runs from the source tree (no install needed where python3 has torch/onnx/onnxruntime/click/rich/pyyaml).
# Usage: scripts/gpu_check.sh [OUTDIR]     Output: a log on stdout plus JSON files under OUTDIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-out/gpu_check}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUTDIR"
fails=0
step() { echo; echo "=== $1"; shift; "$@" || { echo "!!! FAILED (exit $?): $*"; fails=$((fails + 1)); }; }

step "GPU and stack" bash -c 'nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv; '"$PY"' -c "import torch, onnx, onnxruntime as o; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"| onnx\", onnx.__version__, \"| onnxruntime\", o.__version__, o.get_available_providers())"'
step "deployprof backends" "$PY" -m deployprof backends --no-self-test
step "export tiny-vla" "$PY" -m deployprof export tiny-vla --out "$OUTDIR/tiny" --force
HAS_TRT='from deployprof.engine.api import tensorrt_problem as p; import sys; sys.exit(p() is not None)'
REQUIRE_TRT=0; "$PY" -c "$HAS_TRT" 2>/dev/null && REQUIRE_TRT=1
step "GPU tests (a missing GPU fails here; TensorRT tests too when tensorrt imports)" env DEPLOYPROF_REQUIRE_GPU=1 DEPLOYPROF_REQUIRE_TRT=$REQUIRE_TRT "$PY" -m pytest -q -p no:cacheprovider tests/gpu tests/test_export.py
step "known-size buffer moves the memory readings" "$PY" scripts/gpu_memory_check.py
for b in 1 8; do
  step "torch CUDA bench, batch $b" bash -c "$PY -m deployprof bench $OUTDIR/tiny --backend torch --device cuda --batch $b --duration 2 --json > $OUTDIR/bench_torch_cuda_b$b.json"
done
step "ort-cuda must refuse cleanly when onnxruntime-gpu is absent, or run when present" bash -c "$PY -m deployprof bench $OUTDIR/tiny --backend ort-cuda --duration 2 --json > $OUTDIR/bench_ort_cuda.json; rc=\$?; echo exit \$rc; [ \$rc -le 1 ]"
step "ort-cuda under --cuda-graph on: one stage times with graphs; enable_cuda_graph=1 is refused in one error line" bash -c "$PY -m deployprof bench $OUTDIR/tiny/denoise.onnx --backend ort-cuda --cuda-graph on --duration 2 --json > $OUTDIR/bench_ort_cuda_graph.json && $PY -m deployprof bench $OUTDIR/tiny --backend ort-cuda --provider-option enable_cuda_graph=1 --duration 2 2>&1 | tee /dev/stderr | grep -q '^error: --provider-option enable_cuda_graph: use --cuda-graph on'"
step "profile: torch on CUDA vs ort-cpu" "$PY" -m deployprof profile "$OUTDIR/tiny" --out "$OUTDIR/profile" --backends torch,ort-cpu --device cuda --duration 2
step "torch on CUDA: a device-resident policy step, CUDA graphs side by side, findings" bash -c "$PY -m deployprof profile $OUTDIR/tiny --out $OUTDIR/graphs --backends torch,ort-cuda --skip-unavailable --device cuda --cuda-graph both --max-duration 10 && $PY -c \"import json,sys; d=json.load(open('$OUTDIR/graphs/report.json')); r=[x for x in d['runs'] if x['backend']=='torch']; print('findings', d['findings']); print([(x['stage'], x['cuda_graph'], x['device_resident'], x['stopped_by']) for x in r]); sys.exit(not (any(x['device_resident'] for x in r) and any(x['cuda_graph'] for x in r)))\""
step "GPU harness overhead against a bare loop (goal <= 1.03)" "$PY" scripts/bench_gpu_overhead.py "$OUTDIR/tiny" --rounds 3 --iters 200
step "train-bench on CUDA (fp16 autocast, 20 steps)" "$PY" -m deployprof train-bench pi0-small --out "$OUTDIR/train" --device cuda --mixed-precision --steps 20 --batch 8 --target h100-sxm
step "NVML telemetry recorded for the torch CUDA profile" "$PY" -c "import json,sys; r=[x for x in json.load(open('$OUTDIR/profile/report.json'))['runs'] if x['backend']=='torch']; t=r[-1]['telemetry']; print(t); sys.exit(t is None)"
if "$PY" -c "$HAS_TRT" 2>/dev/null; then
  step "native TensorRT: first-contact self-test (3-layer engine, fp32/fp16, vs ONNX Runtime, cache, IProfiler)" "$PY" -m deployprof backends --self-test
  step "native TensorRT: fp32, fp16, int8 engines (first build)" "$PY" -m deployprof profile "$OUTDIR/tiny" --out "$OUTDIR/trt" --backends trt,ort-cpu --precisions fp16,int8 --duration 2 --provider-option layer_profile_runs=20
  step "native TensorRT: second run reuses the cached engines" bash -c "$PY -m deployprof profile $OUTDIR/tiny --out $OUTDIR/trt2 --backends trt --duration 2 && grep -c '\"reused_from_cache\": true' $OUTDIR/trt2/report.json"
  step "native TensorRT: CUDA graph" "$PY" -m deployprof bench "$OUTDIR/tiny" --backend trt --cuda-graph on --duration 2
  if command -v trtexec >/dev/null || [ -x /usr/src/tensorrt/bin/trtexec ]; then
    step "native TensorRT: trtexec re-times the same engines (witness)" "$PY" -m deployprof bench "$OUTDIR/tiny" --backend trt --cross-check trtexec --max-duration 5
  else
    echo; echo "=== trtexec not found: the witness did not run"
  fi
else
  echo; echo "=== native TensorRT: not installed on this machine; the engine path is NOT verified here"
fi
step "summary" "$PY" scripts/gpu_summary.py "$OUTDIR"
echo
echo "gpu_check: $fails step(s) failed"
exit $((fails > 0))
