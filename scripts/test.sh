#!/usr/bin/env bash
# The whole test suite, in its own environment. Extra arguments go to pytest.
# The HTML report is checked in a real headless browser: Debian's chromium and chromium-driver are installed
# here when missing (as root, with apt-get); the test fails rather than skips when they cannot be found.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "cpu,export,test,fleet"
# Type stubs of the real TensorRT 10.13 Python API, for the stand-in consistency test. --no-deps: the package depends on
# tensorrt itself, which cannot install here (it fetches from NVIDIA's index).
pip_install --no-deps "tensorrt-stubs==10.13.0.35.1"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (Debian packages) for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >>.venv/install.log 2>&1 \
      || { echo "error: apt-get install chromium chromium-driver failed; see .venv/install.log" >&2; exit 1; }
  else
    echo "warning: chromium/chromedriver missing and not root: the browser test will fail (apt-get install chromium chromium-driver)" >&2
  fi
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
export DEPLOYPROF_REQUIRE_BROWSER=1 DEPLOYPROF_REQUIRE_TRT_STUBS=1 DEPLOYPROF_REQUIRE_POSTGRES=1 DEPLOYPROF_REQUIRE_RAY=1 DEPLOYPROF_ARTIFACTS="${DEPLOYPROF_ARTIFACTS:-$PWD/docs/artifacts}"
.venv/bin/python -m pytest "$@"
