#!/usr/bin/env bash
# The test suite N times in a row as CI runs it (scripts/test.sh, set-up included) while two busy processes keep
# both cores loaded (CI machines are shared). Usage: scripts/suite_under_load.sh [N=5] [extra pytest args].
# Prints one line per run (wall seconds, pytest's own summary) and exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
N="${1:-5}"; shift || true
./scripts/test.sh -q --co >/dev/null || { echo "error: could not set up .venv" >&2; exit 1; }
load=()
for _ in $(nproc 2>/dev/null || echo 2); do
  python3 -c "while True: pass" & load+=($!)
done
trap 'kill "${load[@]}" 2>/dev/null' EXIT
fails=0
for i in $(seq "$N"); do
  start=$(date +%s)
  if ./scripts/test.sh -q -p no:cacheprovider "$@" >".venv/suite_under_load_$i.log" 2>&1; then
    status=passed
  else
    status=FAILED; fails=$((fails + 1))
  fi
  echo "run $i: $status in $(( $(date +%s) - start )) s, $(tail -n 1 ".venv/suite_under_load_$i.log")"
done
echo "suite under load: $fails of $N runs failed"
exit $((fails > 0))
