#!/usr/bin/env bash
# The LeRobot environment (.venv-lerobot) the LeRobot tests export and profile in: "Route A" of the README. LeRobot
# 0.4.4 pins torch < 2.11; this machine's disk holds torch 2.14.1 + torchvision 0.29.1 (a CUDA build that runs on the
# CPU), so torch comes from the disk, LeRobot with --no-deps, and its runtime dependencies within LeRobot's own bounds
# (pip warns about LeRobot's torch pin; the code runs, as the tests show). About 2 min and 6 GB the first time; kept
# while this recipe is unchanged (a stamp of it), rebuilt when it changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV=.venv-lerobot
LOG=$VENV.log
TORCH=(torch==2.14.1 torchvision==0.29.1)
LEROBOT=lerobot==0.4.4
DEPS=(draccus==0.10.0 "huggingface-hub>=0.34.2,<0.36" "packaging>=24.2,<26" "safetensors>=0.4.3,<1" "datasets>=4,<5"
      "accelerate>=1.10,<2" "imageio>=2.34,<3" "diffusers>=0.27.2,<0.36" "einops>=0.8,<0.9" "pyserial>=3.5,<4"
      "deepdiff>=7.0.1,<9" "av>=15,<16" "gymnasium>=1.1.1,<2" "transformers>=4.57.1,<5" "num2words>=0.5.14,<0.6"
      onnxscript)
stamp=$(printf '%s\n' "${TORCH[@]}" "$LEROBOT" "${DEPS[@]}" | sha256sum | cut -c1-16)
if [ -f "$VENV/.recipe-$stamp" ] && "$VENV/bin/python" -c "import lerobot, deployprof" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . >>"$LOG" 2>&1  # this checkout
  exit 0
fi
echo "setting up $VENV (LeRobot, Route A; log: $LOG)"
rm -rf "$VENV"; "${PYTHON:-python3}" -m venv "$VENV"; : >"$LOG"
pip() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$LOG" 2>&1 || {
  echo "error: pip install $* failed in $VENV; the last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1; }; }
pip "${TORCH[@]}"
pip --no-deps "$LEROBOT"
pip "${DEPS[@]}"
pip -e ".[cpu]"
touch "$VENV/.recipe-$stamp"
