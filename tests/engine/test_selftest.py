"""The first-contact self-test's orchestration and report, on a stand-in "engine" backend that really runs ONNX Runtime
and keeps a cache folder. What TensorRT itself does in it is checked on hardware only (scripts/gpu_check.sh)."""
import dataclasses
import types

import numpy as np
import pytest

from deployprof.backends import BACKENDS
from deployprof.backends.ort import OrtCpu
from deployprof.selftest import run_self_test, write_network
from deployprof.report.sections import self_test_table
from deployprof.results import LayerTime

from ..conftest import invoke


class Engine(OrtCpu):
    """Records a marker per graph in cache_dir; reopening finds it, like an engine cache."""
    bias = 0.0
    fail_load = False

    def _load(self):
        if self.fail_load:
            raise RuntimeError("engine build failed: no implementation for node fc2")
        info = super()._load()
        marker = self.options.cache_dir + "/" + self.manifest.precision
        import os
        reused = os.path.exists(marker)
        open(marker, "w").close()
        engine = types.SimpleNamespace(build_mode="stand-in", build_s=0.5, engine_bytes=123, reused_from_cache=reused,
                                       layer_precisions={"fp32": 3}, cuda_runtime_version="13.0", driver_version="580")
        return dataclasses.replace(info, engine=engine)

    def _run(self, feeds):
        return {k: v + self.bias for k, v in super()._run(feeds).items()}

    def slowest_layers(self, feeds):
        return (LayerTime("fc1", 0.01, 0.6, ("fc1",), self.stage.name), LayerTime("fc2", 0.005, 0.4, ("fc2",), self.stage.name))


@pytest.fixture
def engine_backend(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS._items, "engine", Engine)
    import os
    os.makedirs(tmp_path / "w" / "cache", exist_ok=True)
    return lambda **kw: run_self_test("engine", work=tmp_path / "w", **kw)


def test_a_working_path_passes_every_check(engine_backend):
    result = engine_backend()
    assert result.ok, result.checks
    names = [c.name for c in result.checks]
    assert names == ["fp32 build", "fp32 build: output vs ONNX Runtime CPU", "fp32 reopened from the engine cache",
                     "fp32 reuse: output vs ONNX Runtime CPU", "fp32 per-layer profile (IProfiler)",
                     "fp16 build", "fp16 build: output vs ONNX Runtime CPU", "fp16 reopened from the engine cache",
                     "fp16 reuse: output vs ONNX Runtime CPU", "fp16 per-layer profile (IProfiler)"]
    table = self_test_table(result)
    assert table.title == "engine self-test: PASS" and "polygraphy" in table.caption and "cuda runtime / driver: 13.0 / 580" in table.caption


def test_wrong_outputs_and_failed_builds_are_rows_not_tracebacks(engine_backend, monkeypatch):
    monkeypatch.setattr(Engine, "bias", 1.0)
    result = engine_backend()
    wrong = [c for c in result.checks if "vs ONNX Runtime" in c.name]
    assert not result.ok and wrong and not any(c.ok for c in wrong) and "relative L2 error" in wrong[0].detail
    monkeypatch.setattr(Engine, "fail_load", True)
    result = engine_backend()
    assert [c.ok for c in result.checks] == [False] * 4
    assert "no implementation for node fc2" in result.checks[0].detail and self_test_table(result).title.endswith("FAIL")


def test_the_fp16_graph_computes_in_fp16_and_stays_close_to_fp32(tmp_path):
    import onnx
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    ys = {}
    for p in ("fp32", "fp16"):
        path = write_network(tmp_path / p, p)
        ys[p] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        kinds = {i.data_type for i in onnx.load(str(path)).graph.initializer}
        assert kinds == ({onnx.TensorProto.FLOAT16} if p == "fp16" else {onnx.TensorProto.FLOAT})
    rel = np.linalg.norm(ys["fp16"] - ys["fp32"]) / np.linalg.norm(ys["fp32"])
    assert 0 < rel < 3e-2 and np.abs(ys["fp32"]).mean() > 0.1   # a real signal, not zeros


def test_backends_runs_the_self_test_only_where_asked_or_tensorrt_is_usable():
    r = invoke(["backends"])
    assert r.exit_code == 0 and "self-test" not in r.output
    r = invoke(["backends", "--self-test"])
    assert r.exit_code == 1 and "error: --self-test needs the trt backend:" in r.output
