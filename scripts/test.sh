#!/usr/bin/env bash
# The whole test suite, in its own environment. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "cpu,export,test"
.venv/bin/python -m pytest "$@"
