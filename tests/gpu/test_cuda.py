"""Run on an NVIDIA machine (scripts/gpu_check.sh); skipped with a reason elsewhere."""
import numpy as np
import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.inputs import make_inputs
from deployprof.manifest import load_subject
from deployprof.config import MeasureConfig
from deployprof.measure.harness import time_callable


@pytest.mark.gpu
def test_torch_cuda_matches_cpu_and_times_with_events(tiny_export):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    manifest, root = load_subject(tiny_export)
    stage = manifest.stage("prefix")
    feeds = make_inputs(stage.inputs, batch=2, seed=1)
    with BACKENDS.get("torch")(stage, root, manifest, BackendOptions(device="cuda")) as gb, \
            BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions()) as cb:
        for name in ("kv_k", "kv_v"):
            np.testing.assert_allclose(gb.run(feeds)[name], cb.run(feeds)[name], atol=2e-3, rtol=2e-3)
        t = time_callable(gb.bind(feeds), gb.synchronize, MeasureConfig(warmup_iterations=5, iterations=50), gb.device_timer())
        assert len(t.device_ms) == 50 and all(d > 0 for d in t.device_ms)
        host_med, dev_med = np.median(t.samples_ns) / 1e6, np.median(t.device_ms)
        assert dev_med <= host_med * 1.05  # device time cannot exceed synchronised host time
        assert gb.allocator_peak_bytes() > 0
