# Sourced by demo.sh and test.sh: create or refresh .venv and install deployprof with the given extras.
# torch is pinned to 2.13.0 first: on this kind of machine that is the CPU build on local disk, while a looser
# range would pull a multi-GB CUDA build. Users with a GPU install torch their own way (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[$1]"
