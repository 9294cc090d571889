"""The native TensorRT path end to end: needs TensorRT, CUDA bindings and a GPU (scripts/gpu_check.sh)."""
import dataclasses

import numpy as np
import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.inputs import make_inputs
from deployprof.manifest import load_subject
from deployprof.runner import RunSpec, run_backend
from deployprof.config import MeasureConfig


@pytest.mark.tensorrt
def test_engine_matches_onnxruntime_and_is_cached(tiny_export, tmp_path):
    manifest, root = load_subject(tiny_export)
    stage = manifest.stage("prefix")
    feeds = make_inputs(stage.inputs, batch=1, seed=1)
    opts = BackendOptions(cache_dir=str(tmp_path))
    with BACKENDS.get("trt")(stage, root, manifest, opts) as t, BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions()) as c:
        got, want = t.run(feeds), c.run(feeds)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=5e-3, rtol=5e-3)  # TF32 allowed by default
        first = t.build_info.engine
    assert not first.reused_from_cache and first.layer_count > 0 and first.engine_bytes > 0
    with BACKENDS.get("trt")(stage, root, manifest, opts) as t:
        again = t.build_info.engine
    assert again.reused_from_cache and again.cache_key == first.cache_key


@pytest.mark.tensorrt
def test_run_backend_reports_device_time_copies_and_layers(tiny_export, tmp_path):
    spec = RunSpec(subject=str(tiny_export), backend="trt",
                   config=MeasureConfig(warmup_iterations=5, iterations=50, backend_options=BackendOptions(cache_dir=str(tmp_path))))
    runs = run_backend(spec)
    stages = [r for r in runs if r.stage != "policy_step"]
    assert all(r.device_latency is not None and r.transfers is not None and r.layers for r in stages)
    assert all(r.build.engine is not None for r in runs)
    graph = run_backend(dataclasses.replace(spec, config=dataclasses.replace(spec.config, backend_options=BackendOptions(
        cache_dir=str(tmp_path), cuda_graph=True))))
    assert graph[0].latency.count == 50


@pytest.mark.tensorrt
def test_first_contact_self_test_passes(tmp_path):
    from deployprof.selftest import run_self_test

    result = run_self_test("trt", work=tmp_path)
    assert result.ok, [c for c in result.checks if not c.ok]
