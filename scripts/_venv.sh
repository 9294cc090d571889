# Sourced by demo.sh and test.sh: create or refresh .venv and install deployprof with the given extras.
# torch is pinned to 2.13.0 first: on our machines that is the CPU build on local disk, while a looser
# range would pull a multi-GB CUDA build. Users with a GPU install torch their own way (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
LOG=.venv/install.log
pip_install() {
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check "$@" >>"$LOG" 2>&1; then
    echo "error: pip install $* failed; the last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
}
: >"$LOG"
echo "setting up .venv (log: $LOG)"
pip_install "torch==2.13.0"
pip_install -e ".[$1]"
