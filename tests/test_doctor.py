"""`deployprof doctor`: the CPU branch measured here, the GPU and Jetson branches on fake device readings, and the
plausibility guards that keep an MFU or roofline efficiency above its ceiling from being shown as a result."""
import dataclasses
import json

import pytest

from deployprof.doctor import doctor
from deployprof.errors import ConfigError

from .conftest import invoke


class FakeGpu:
    """Readings of a device: GEMM TFLOP/s per precision and copy GB/s (a healthy H100 reaches ~80% of dense)."""
    kind = "gpu"

    def __init__(self, fp16=790.0, tf32=400.0, bw=2900.0, kind="gpu", mode=None, locked=None, name="NVIDIA H100 80GB HBM3"):
        self.readings, self.kind, self.state, self.name = {"fp16": fp16, "tf32": tf32, "fp32": tf32, "bw": bw}, kind, (mode, locked), name

    def device_name(self):
        return self.name

    def gemm_tflops(self, precision):
        return self.readings[precision], "fake"

    def bandwidth_gbs(self):
        return self.readings["bw"], "fake"

    def power_state(self):
        return self.state


def test_a_healthy_gpu_is_at_spec_and_a_throttled_one_is_not():
    ok = doctor("h100-sxm", probe=FakeGpu())
    assert ok.at_spec is True and [c.name for c in ok.checks] == ["FP16 GEMM", "TF32 GEMM", "memory copy bandwidth"]
    assert all(c.reference for c in ok.checks)
    slow = doctor("h100-sxm", probe=FakeGpu(fp16=400.0))
    assert slow.at_spec is False and slow.checks[0].at_spec is False and "NOT AT SPEC (FP16 GEMM 40%" in slow.notes[-1]


def test_a_gpu_needs_its_target_named():
    with pytest.raises(ConfigError, match="name its target profile with --target"):
        doctor(None, probe=FakeGpu())


def test_a_jetson_is_judged_in_its_power_mode_and_unlocked_clocks_are_said():
    orin = dict(fp16=30.0, tf32=10.0, bw=120.0, kind="jetson", name="NVIDIA Jetson AGX Orin Developer Kit")
    r = doctor("jetson-agx-orin-64gb", probe=FakeGpu(**orin, mode="MAXN", locked=True))
    assert r.power_mode == "MAXN" and r.clocks_locked and r.target == "jetson-agx-orin-64gb@MAXN"
    low = doctor("jetson-agx-orin-64gb", probe=FakeGpu(**orin, mode="15W", locked=False))
    assert low.target == "jetson-agx-orin-64gb@15W" and any("clocks are not locked" in n for n in low.notes)
    assert low.checks[0].reference < r.checks[0].reference  # the 15 W datasheet figure, not MAXN's


def test_doctor_on_this_cpu_measures_and_exits_zero():
    r = invoke(["doctor", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kind"] == "selfcheck" and doc["at_spec"] is None and doc["checks"][0]["measured"] > 1
    assert "flags would say" in doc["notes"][0]


def test_an_implausible_mfu_is_flagged_not_shown():
    from deployprof.report.sections import training_table
    from deployprof.findings import mfu_problem

    from .test_results import make_report

    t = make_report().training[0]
    assert mfu_problem(dataclasses.replace(t, mfu=0.5, mfu_target="cpu")) is None
    assert "above the 90%" in mfu_problem(dataclasses.replace(t, mfu=0.934, mfu_target="cpu"))
    assert "exceeds the ceiling" in mfu_problem(dataclasses.replace(t, mfu=1.2, mfu_target="cpu"))
    cell = training_table([dataclasses.replace(t, mfu=0.934, mfu_target="cpu")]).rows[0][-1]
    assert cell.startswith("implausible (93.4% of cpu)")


def test_a_roofline_efficiency_above_one_is_flagged():
    from deployprof.report.sections import _efficiency

    assert _efficiency(0.42) == "42.0%" and _efficiency(1.3) == "implausible (130%)" and _efficiency(None) == "-"


def test_qualify_is_inconclusive_on_latency_measured_on_a_board_not_at_spec():
    from deployprof.qualify.spec import Spec
    from deployprof.qualify.verdict import qualify_report
    from deployprof.results import DeviceCheck, SelfCheck

    from .test_results import make_report

    rep = make_report()
    bad = SelfCheck("Orin", "jetson-agx-orin-64gb@MAXN", "MAXN", False,
                    (DeviceCheck("FP16 GEMM", 20.0, 85.0, "TFLOP/s", False, "fake"),), False, ("NOT AT SPEC (FP16 GEMM 24%)",))
    spec = Spec(latency_ms={"p50": 1000.0})
    assert qualify_report(spec, rep, "s", "r", None).configs[0].criteria[0].status == "PASS"
    on_bad = dataclasses.replace(rep, environment=dataclasses.replace(rep.environment, self_check=bad))
    q = qualify_report(spec, on_bad, "s", "r", None)
    c = q.configs[0].criteria[0]
    assert c.status == "INCONCLUSIVE" and "board not at spec" in c.detail and "latency criteria are INCONCLUSIVE" in q.notes[-1]
    assert qualify_report(spec, on_bad, "s", "r", None, accept_board=True).configs[0].criteria[0].status == "PASS"


def test_doctor_refuses_a_target_that_is_not_this_device():
    """It once checked the CPU silently and exited 0 under --target jetson-orin-nx-16gb."""
    with pytest.raises(ConfigError, match=r"this device is NVIDIA H100 80GB HBM3 \(gpu\), not a jetson-orin-nx-16gb"):
        doctor("jetson-orin-nx-16gb", probe=FakeGpu())
    with pytest.raises(ConfigError, match="not a l4"):  # "NVIDIA L4" is not "NVIDIA L40S"
        doctor("l4", probe=FakeGpu(name="NVIDIA L40S"))
    r = invoke(["doctor", "--target", "jetson-orin-nx-16gb"])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "(cpu), not a jetson-orin-nx-16gb" in r.output
