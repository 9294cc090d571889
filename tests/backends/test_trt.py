"""The trt backend's availability probe on machines without TensorRT, a GPU or CUDA bindings. The engine path
itself needs real hardware: tests/gpu/test_trt_engine.py (marker `tensorrt`)."""
import importlib.util
import sys

import pytest

import deployprof.engine.cuda as cuda_mod
from deployprof.backends import BACKENDS
from deployprof.backends import trt as trt_backend

from ..engine.fake_trt import make


@pytest.fixture
def fake_tensorrt(monkeypatch):
    def install(version, devices=1, bindings="cuda-bindings", polygraphy=True):
        monkeypatch.setitem(sys.modules, "tensorrt", make(version, []))
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "tensorrt" else
                            None if name == "polygraphy" and not polygraphy else real(name, *a))
        monkeypatch.setattr(cuda_mod, "which_bindings", lambda: bindings)
        monkeypatch.setattr(trt_backend, "cuda_device_count", lambda: devices)
        return BACKENDS.get("trt").availability()
    return install


def test_each_missing_piece_is_named(fake_tensorrt):
    assert "no NVIDIA CUDA device" in fake_tensorrt("10.3.0", devices=0).reason
    assert "neither cuda-bindings nor pycuda" in fake_tensorrt("10.3.0", bindings=None).reason
    assert "polygraphy (NVIDIA's TensorRT build tooling) is not installed" in fake_tensorrt("10.3.0", polygraphy=False).reason


def test_available_says_which_precision_api(fake_tensorrt):
    a = fake_tensorrt("10.3.0")
    assert a.ok and a.reason == "TensorRT 10.3.0 (precision flags), cuda-bindings"
    assert fake_tensorrt("11.4.1").reason.startswith("TensorRT 11.4.1 (strongly typed only)")


def test_trt_runs_only_exports_tensorrt_can_build():
    assert BACKENDS.get("trt").artifact_precisions == ("fp32", "fp16", "bf16", "int8", "fp8", "int4", "fp16-mixed",
                                                       "bf16-mixed", "int8-mixed", "fp8-mixed", "int4-mixed")
