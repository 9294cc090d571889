#!/usr/bin/env bash
# The whole test suite, in its own environment. Extra arguments go to pytest.
# The HTML report is checked in a real headless browser: Debian's chromium and chromium-driver are installed
# here when missing (as root, with apt-get); the test fails rather than skips when they cannot be found.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "cpu,export,test,fleet"
# NVIDIA's own TensorRT Python bindings of 8.6, 10.13 and 11.4 (about 1 MB each, downloaded once into the venv) with
# placeholder libraries, for the checks of the TensorRT layer against the real API (tests/engine/test_real_trt.py).
# Without them those tests fail (DEPLOYPROF_REQUIRE_TRT_STUBS=1 below), naming this step.
if ! PYTHON=.venv/bin/python scripts/trt_real.sh .venv/trt-real >>"$LOG" 2>&1; then
  echo "warning: scripts/trt_real.sh .venv/trt-real failed (it needs gcc and the package index; see $LOG):" \
       "the TensorRT API checks will fail" >&2
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (Debian packages) for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >>.venv/install.log 2>&1 \
      || { echo "error: apt-get install chromium chromium-driver failed; see .venv/install.log" >&2; exit 1; }
  else
    echo "warning: chromium/chromedriver missing and not root: the browser test will fail (apt-get install chromium chromium-driver)" >&2
  fi
fi
# The LeRobot tests export and profile checkpoints in a second environment (torch 2.14 + LeRobot 0.4.4, Route A).
if ! scripts/lerobot_venv.sh; then
  echo "warning: the LeRobot environment could not be built: the LeRobot tests will fail" >&2
fi
# The store tests start a throwaway PostgreSQL server from Debian's package, installed here like Chromium.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing postgresql (Debian package) for the store tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >>.venv/install.log 2>&1 \
      || { echo "error: apt-get install postgresql failed; see .venv/install.log" >&2; exit 1; }
  else
    echo "warning: postgresql missing and not root: the PostgreSQL store test will fail (apt-get install postgresql)" >&2
  fi
fi
export DEPLOYPROF_REQUIRE_BROWSER=1 DEPLOYPROF_REQUIRE_TRT_STUBS=1 DEPLOYPROF_REQUIRE_POSTGRES=1 DEPLOYPROF_REQUIRE_RAY=1 DEPLOYPROF_REQUIRE_LEROBOT=1 DEPLOYPROF_ARTIFACTS="${DEPLOYPROF_ARTIFACTS:-$PWD/docs/artifacts}"
# Two workers (pytest-xdist), each taking whole test files (a module's fixtures, such as the LeRobot checkpoints,
# are made once): much of the suite waits on subprocesses and timed windows, so two overlap well on two cores
# (docs/BENCHMARKS.md, "The suite in CI"). DEPLOYPROF_TEST_WORKERS=0 runs it in one process; `-n N` overrides.
.venv/bin/python -m pytest -n "${DEPLOYPROF_TEST_WORKERS:-2}" --dist loadfile "$@"
