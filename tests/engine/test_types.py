"""mypy over the TensorRT layer (deployprof/engine, backends/trt.py) once per TensorRT generation, against stubs that
pybind11-stubgen generated from NVIDIA's own bindings of 8.6, 10.13 and 11.4 (scripts/trt_real.sh), with zero errors;
and proof, per generation, that the check sees TensorRT's types rather than Any. A branch that serves some
generations only says so on its line (`# type: ignore[..., unused-ignore]`, behind engine/api.py's probes)."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .real_trt import GENERATIONS, ROOT, require


@pytest.fixture(scope="module", params=list(GENERATIONS))
def typings(request):
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("DEPLOYPROF_REQUIRE_TRT_STUBS") == "1":
            pytest.fail("mypy is not installed (scripts/test.sh installs it)")
        pytest.skip("mypy is not installed (pip install mypy)")
    return request.param, require(request.param) / "typings"


def _mypy(typings, *paths: str) -> subprocess.CompletedProcess:
    """Run from the repository root, so that setup.cfg's [mypy] sections apply; a cache per generation in the venv."""
    gen, folder = typings
    env = {**os.environ, "MYPYPATH": str(folder)}
    cache = Path(sys.prefix) / "mypy-cache" / gen
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_tensorrt_layer_type_checks_against_each_generation(typings):
    r = _mypy(typings, "deployprof/engine", "deployprof/backends/trt.py")
    assert r.returncode == 0 and "Success: no issues found" in r.stdout, f"TensorRT {typings[0]}:\n{r.stdout}{r.stderr}"


def test_the_check_sees_tensorrt_types_not_any(typings, tmp_path):
    bad = tmp_path / "misuse.py"
    bad.write_text("import tensorrt as trt\n\n\n"
                   "def build(builder: trt.Builder, network: trt.INetworkDefinition) -> bytes:\n"
                   "    builder.build_engine_v2(network)\n"
                   "    config = builder.create_builder_config()\n"
                   "    config.builder_optimization_level = 'high'\n"
                   "    return builder.build_serialized_network(network, config)\n")
    out = _mypy(typings, str(bad)).stdout
    assert '"Builder" has no attribute "build_engine_v2"' in out, out
    assert re.search(r'Incompatible types in assignment \(expression has type "str", variable has type "(int|SupportsInt)"\)',
                     out), out  # 11.4 types its integer setters SupportsInt
    assert 'Incompatible return value type (got "IHostMemory", expected "bytes")' in out, out
