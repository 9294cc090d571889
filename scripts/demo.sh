#!/usr/bin/env bash
# The main job on the embedded default: export the tiny reference VLA, count its FLOPs, measure it on
# ONNX Runtime CPU (and PyTorch eager as the baseline), and write a report.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "cpu,export"
OUT="${1:-out/demo}"
.venv/bin/deployprof backends
.venv/bin/deployprof profile tiny-vla --out "$OUT" --backends ort-cpu,torch --duration 3
echo
case "$OUT" in /*) REPORT="$OUT" ;; *) REPORT="$ROOT/$OUT" ;; esac
echo "Report written to: $REPORT/report.html (open it in a browser; also report.md and report.json)"
