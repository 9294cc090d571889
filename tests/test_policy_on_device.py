"""The device-resident policy step, checked on the CPU with a stand-in device: a backend whose arrays are torch
tensors. Its stages must receive only device arrays, the loop must run in the array namespace of those arrays,
and the only copies are the external inputs in and the action out."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deployprof.config import BackendOptions, MeasureConfig  # noqa: E402
from deployprof.inputs import make_inputs  # noqa: E402
from deployprof.manifest import load_subject  # noqa: E402
from deployprof.policy import open_policy  # noqa: E402
from deployprof.runner import RunSpec, run_backend  # noqa: E402

from .fake_device import install_fake_device  # noqa: E402


@pytest.fixture
def fake_device(monkeypatch):
    return install_fake_device(monkeypatch)


def test_resident_step_matches_the_host_step_with_no_host_round_trip(tiny_export, fake_device):
    check_resident_matches_host(load_subject(tiny_export), fake_device)


def check_resident_matches_host(subject, counts, batch=2):
    counts.update(to_device=0, to_host=0, host_run=0)
    m = subject.manifest
    external = make_inputs(m.external_inputs(), batch=batch, seed=3, dims=m.default_dims)
    with open_policy(subject, "fake-device", BackendOptions()) as step:
        host = step(external)[m.action_output]
        calls = counts["host_run"]
        on_device = step.to_device(external)
        assert counts["to_device"] == len(external)
        env = step.resident(on_device)
        action = step.action(env)
    assert isinstance(env[m.action_output], torch.Tensor) and counts["to_host"] == 1
    assert counts["host_run"] - calls == counts["host_run"] // 2  # the same stage calls, each on device arrays
    np.testing.assert_allclose(action, host, rtol=1e-6, atol=1e-6)


def test_the_runner_times_a_device_backend_resident_and_reports_its_copies(tiny_export, fake_device):
    cfg = MeasureConfig(iterations=5, warmup_iterations=1, warmup_min_s=0, warmup_max_s=0)
    runs = run_backend(RunSpec(str(tiny_export), "fake-device", 1, cfg, stages=False))
    (step,) = runs
    assert step.stage == "policy_step" and step.device_resident and step.latency.count == 5
    t = step.transfers
    assert t.repeats == 10 and t.h2d_bytes > 0 and t.d2h_bytes == 8 * 7 * 4  # batch 1, chunk 8 x 7 actions, float32
    assert runs[0].stage_mean_ms == {}  # launches are not stage times: no breakdown for a resident step
