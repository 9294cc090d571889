"""torch's layer-time pass: torch.profiler operators under the module that called them, by qualified name."""
import pytest

from deployprof.measure.layer_pass import timed_calls
from deployprof.measure.torch_profile import torch_layer_times

from .fake_clock import FakeClock


def test_a_slow_submodule_is_found_at_the_top_and_nested_operators_count_once():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.small = torch.nn.Linear(4, 4)
            # the nested Linear is ~1000x the work of any other op: a preempted small op (a loaded machine) cannot
            # outlast it
            self.outer = torch.nn.Sequential(torch.nn.Linear(4, 512), torch.nn.Sequential(torch.nn.Linear(512, 4096)))

        def forward(self, x):
            big = self.outer(x.repeat(256, 1))
            return self.small(x) + big.sum()

    net, x = Net().eval(), torch.randn(1, 4)
    with torch.inference_mode():
        t = torch_layer_times(net, lambda: net(x), lambda: None, runs=4, budget_s=5.0, cuda=False)
    assert t.source == "torch-profiler" and t.runs == 4
    units = {u.name: u for u in t.units}
    inner = units["outer.1.0/aten::linear"]
    assert inner.module_path == ("outer", "outer.1", "outer.1.0") and inner.op_type == "aten::linear"
    assert max(t.units, key=lambda u: u.mean_ms) is inner
    assert not any(u.op_type in ("aten::addmm", "aten::t") for u in t.units)   # inside aten::linear: counted there
    assert units["(stage)/aten::repeat"].module_path == ()                     # called by the stage module itself
    assert 0 < sum(u.mean_ms for u in t.units) <= t.pass_stage_ms
    # FLOPs as torch counts them (aten::linear's are its addmm's: 2 x 256 x 512 x 4096), bytes of its inputs (float32)
    assert inner.flops == 2 * 256 * 512 * 4096 and inner.bytes == 4 * (256 * 512 + 4096 * 512 + 4096)
    assert not net._forward_hooks and not net.outer._forward_pre_hooks           # hooks removed


def test_timed_calls_keeps_at_least_six_runs_and_stops_at_the_budget():
    """Six: the fewest that bound a median's 95% interval (each module's time is its median over the runs)."""
    clock = FakeClock(tick_ns=1)
    seconds = lambda: clock() / 1e9  # noqa: E731
    calls = []
    walls = timed_calls(lambda: (calls.append(1), clock.sleep(1.0)), runs=20, budget_s=0.5, warmup=2, clock=seconds)
    assert len(calls) == 2 + 6 and len(walls) == 6 and all(w == pytest.approx(1000.0) for w in walls)
    walls = timed_calls(lambda: clock.sleep(0.001), runs=5, budget_s=10.0, warmup=0, clock=seconds)
    assert len(walls) == 5


def test_a_modules_own_python_is_its_time_too():
    torch = pytest.importorskip("torch")

    class Slow(torch.nn.Module):
        def forward(self, x):
            for _ in range(2000):   # interpreter work, no operator
                pass
            return x

    net = torch.nn.Sequential(Slow())
    x = torch.zeros(1)
    t = torch_layer_times(net, lambda: net(x), lambda: None, runs=3, budget_s=5.0, cuda=False)
    own = next(u for u in t.units if u.name == "0/(python)")
    assert own.module_path == ("0",) and own.op_type == "(python)" and own.mean_ms > 0
    assert own.mean_ms > 0.5 * sum(u.mean_ms for u in t.units)
