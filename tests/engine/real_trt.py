"""NVIDIA's own TensorRT Python bindings of three generations, as scripts/trt_real.sh leaves them in the venv: where
they are, the environment that imports each (its placeholder libraries on LD_LIBRARY_PATH, `tensorrt` aliased to the
bindings module), and what each module holds, read in a child process (scripts/trt_probe.py): every generation's
module is named `tensorrt_bindings`, so one process holds one. Import and introspect only: nothing builds or runs."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each generation and the version the recording stand-in (fake_trt.make) is made as when it imitates it. 8.6 stands in
# for JetPack 5's 8.5 (no 8.5 bindings wheel is on the registry); 10.13 for the desktop 10.x; 11.4 for 11.x.
GENERATIONS = {"8.6": "8.6.1", "10.13": "10.13.0", "11.4": "11.4.0"}


def home() -> Path:
    return Path(os.environ.get("DEPLOYPROF_TRT_REAL") or Path(sys.prefix) / "trt-real")


def require(gen: str) -> Path:
    """The generation's folder, or a skip (a failure under DEPLOYPROF_REQUIRE_TRT_STUBS=1, as scripts/test.sh runs)."""
    folder = home() / gen
    if not (folder / "tensorrt_bindings").is_dir() or not (folder / "typings" / "tensorrt" / "__init__.pyi").exists():
        why = (f"NVIDIA's TensorRT {gen} bindings are not in {home()}: run scripts/trt_real.sh {home()} "
               "(needs gcc, pybind11-stubgen and the package index)")
        if os.environ.get("DEPLOYPROF_REQUIRE_TRT_STUBS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return folder


def env(gen: str) -> dict:
    folder = require(gen)
    path = os.pathsep.join([str(folder), str(home() / "alias"), str(ROOT)])
    return {**os.environ, "LD_LIBRARY_PATH": str(folder / "lib"), "PYTHONPATH": path}


def run(gen: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """python ARGS in a process whose `tensorrt` is NVIDIA's module of this generation."""
    return subprocess.run([sys.executable, *args], env=env(gen), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@functools.lru_cache(maxsize=None)
def api(gen: str) -> dict:
    """{version, classes: {name: {member: {kind, signatures?}}}, enums: {name: {member: value}}, functions}."""
    r = run(gen, str(ROOT / "scripts" / "trt_probe.py"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
