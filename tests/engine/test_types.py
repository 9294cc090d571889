"""mypy over the TensorRT layer (deployprof/engine, backends/trt.py) against the type stubs of the real TensorRT 10.13
Python API, with zero errors; and proof that the check sees TensorRT's types rather than Any. scripts/test.sh sets
DEPLOYPROF_REQUIRE_TRT_STUBS=1, which turns a missing mypy or tensorrt-stubs into a failure."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .trt_typings import stubs_root, write_typings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def typings():
    missing = [what for what, ok in (("mypy", importlib.util.find_spec("mypy") is not None),
                                     ("tensorrt-stubs", stubs_root() is not None)) if not ok]
    if missing:
        if os.environ.get("DEPLOYPROF_REQUIRE_TRT_STUBS") == "1":
            pytest.fail(f"{' and '.join(missing)} not installed (scripts/test.sh installs both)")
        pytest.skip(f"{' and '.join(missing)} not installed (pip install mypy; pip install --no-deps tensorrt-stubs)")
    return write_typings(Path(sys.prefix) / "trt-typings")


def _mypy(typings: Path, *paths: str) -> subprocess.CompletedProcess:
    """Run from the repository root, so that setup.cfg's [mypy] sections apply; the cache lives in the venv."""
    env = {**os.environ, "MYPYPATH": str(typings)}
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(Path(sys.prefix) / "mypy-cache"), *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_tensorrt_layer_type_checks_against_the_real_api(typings):
    r = _mypy(typings, "deployprof/engine", "deployprof/backends/trt.py")
    assert r.returncode == 0 and "Success: no issues found" in r.stdout, r.stdout + r.stderr


def test_the_check_sees_tensorrt_types_not_any(typings, tmp_path):
    bad = tmp_path / "misuse.py"
    bad.write_text("import tensorrt as trt\n\n\n"
                   "def build(builder: trt.Builder, network: trt.INetworkDefinition) -> bytes:\n"
                   "    builder.build_engine_v2(network)\n"
                   "    config = builder.create_builder_config()\n"
                   "    config.builder_optimization_level = 'high'\n"
                   "    return builder.build_serialized_network(network, config)\n")
    out = _mypy(typings, str(bad)).stdout
    assert '"Builder" has no attribute "build_engine_v2"' in out
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in out
    assert 'Incompatible return value type (got "IHostMemory", expected "bytes")' in out
