import dataclasses

import numpy as np
import pytest

from deployprof.measure.stats import compute_stats
from deployprof.qualify.roofline import predict, stage_floor, with_measured
from deployprof.qualify.spec import parse_spec
from deployprof.qualify.verdict import qualify_prediction, qualify_report, wilson_ci
from deployprof.results import ControlLoopStats, FlopReport, MeasuredDevice
from deployprof.targets import load_target_profile

from ..test_results import ACCURACY, make_report


def _report(mean_ms=40.0, sd=1.0, n=2000, precision="fp32", backend="ort-cpu", control=None, accuracy=None):
    base = make_report()
    lat = compute_stats(list(np.random.default_rng(0).normal(mean_ms, sd, n)))
    run = dataclasses.replace(base.runs[0], backend=backend, precision=precision, latency=lat, control=control,
                              accuracy=accuracy and dataclasses.replace(accuracy, backend=backend, precision=precision))
    return dataclasses.replace(base, runs=(run,))


def _q(spec, report, target=None):
    return qualify_report(parse_spec(spec), report, "spec.yaml", "report.json", target)


def test_pass_fail_and_inconclusive_on_a_p99_budget():
    rep = _report()
    p99 = rep.runs[0].latency.p99_ms
    lo, hi = rep.runs[0].latency.ci_ms["p99"]
    assert _q({"latency_ms": {"p99": hi + 1}}, rep).status == "PASS"
    assert _q({"latency_ms": {"p99": lo - 1}}, rep).status == "FAIL"
    q = _q({"latency_ms": {"p99": (lo + hi) / 2}}, rep)
    (c,) = q.configs[0].criteria
    assert q.status == "INCONCLUSIVE" and "run longer" in c.detail and c.value == p99 and c.ci == (lo, hi)


def test_too_few_samples_cannot_pass_a_tail_budget():
    rep = _report(n=50)
    (c,) = _q({"latency_ms": {"p99": 1000}}, rep).configs[0].criteria
    assert c.status == "INCONCLUSIVE" and c.ci[1] == float("inf")


def test_control_rate_with_chunk_sets_the_budget():
    rep = _report(mean_ms=700.0, sd=5.0)
    assert _q({"control": {"rate_hz": 10, "chunk": 8}}, rep).status == "PASS"   # 800 ms per chunk
    assert _q({"control": {"rate_hz": 10}}, rep).status == "FAIL"               # 100 ms per action


def test_deadline_miss_rate_uses_a_binomial_interval():
    ctl = lambda misses, n: ControlLoopStats(10.0, 100.0, n, 100.0, misses, misses / n, 5, 9, 0.1, 0.5, 0.2, 8, 80.0)  # noqa: E731
    assert _q({"deadline_miss_rate": 0.05}, _report(control=ctl(0, 1000))).status == "PASS"
    assert _q({"deadline_miss_rate": 0.05}, _report(control=ctl(200, 1000))).status == "FAIL"
    assert _q({"deadline_miss_rate": 0.05}, _report(control=ctl(1, 20))).status == "INCONCLUSIVE"
    q = _q({"deadline_miss_rate": 0.05}, _report())
    assert q.status == "INCONCLUSIVE" and "--rate" in q.configs[0].criteria[0].detail
    lo, hi = wilson_ci(0, 1000)
    assert lo == 0.0 and 0 < hi < 0.005


def test_memory_and_accuracy_criteria():
    rep = _report()  # host peak RSS 10 bytes in the crafted report; fp16 accuracy: cosine min 0.98, max abs 0.5
    assert _q({"memory": {"host_peak_mib": 1}}, rep).status == "PASS"
    q = _q({"memory": {"device_peak_mib": 100}}, rep)
    assert q.status == "INCONCLUSIVE"
    fp16 = _report(precision="fp16", accuracy=ACCURACY)
    assert _q({"accuracy": {"min_cosine": 0.97}}, fp16).status == "PASS"
    assert _q({"accuracy": {"min_cosine": 0.99}}, fp16).status == "FAIL"
    assert _q({"accuracy": {"max_abs_error": 0.1}}, fp16).status == "FAIL"
    int8 = _report(precision="int8")
    assert _q({"accuracy": {"min_cosine": 0.9}}, int8).status == "INCONCLUSIVE"  # never compared
    orin = load_target_profile("jetson-agx-orin-64gb")
    on_orin = _on(rep, MeasuredDevice("jetson", "NVIDIA Jetson AGX Orin Developer Kit"))
    assert _q({"memory": {"headroom_pct": 50}}, on_orin, orin).status == "PASS"
    assert _q({"memory": {"headroom_pct": 50}}, on_orin).status == "INCONCLUSIVE"  # no target


def _on(report, device):
    return dataclasses.replace(report, runs=tuple(dataclasses.replace(r, measured_on=device) for r in report.runs))


def test_a_run_made_on_another_device_never_passes_for_the_target():
    """A CPU run once PASSed `target: jetson-orin-nano-8gb` 'measured on jetson-orin-nano-8gb'."""
    rep = _on(_report(mean_ms=1.0, sd=0.01), MeasuredDevice("cpu", "AMD EPYC 7B13"))
    nano = load_target_profile("jetson-orin-nano-8gb")
    assert _q({"latency_ms": {"p99": 500}}, rep).status == "PASS"  # no target: judged as measured
    q = _q({"latency_ms": {"p99": 500}, "memory": {"headroom_pct": 10}}, rep, nano)
    assert q.status == "INCONCLUSIVE" and q.measured_on == ("AMD EPYC 7B13 (cpu)",)
    assert all(c.status == "INCONCLUSIVE" and "measured on AMD EPYC 7B13 (cpu), not on jetson-orin-nano-8gb" in c.detail
               for c in q.configs[0].criteria)
    assert "deployprof predict EXPORT --target jetson-orin-nano-8gb" in q.notes[-1]
    assert _q({"latency_ms": {"p99": 0.001}}, rep, nano).status == "INCONCLUSIVE"  # nor FAIL: another device
    on_nx = _on(rep, MeasuredDevice("jetson", "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"))
    assert _q({"latency_ms": {"p99": 500}}, on_nx, nano).status == "INCONCLUSIVE"  # another Jetson
    on_nano = _on(rep, MeasuredDevice("jetson", "NVIDIA Jetson Orin Nano Developer Kit"))
    assert _q({"latency_ms": {"p99": 500}}, on_nano, nano).status == "PASS"


def test_allowed_backends_and_precisions_filter_configs():
    rep = _report()
    q = _q({"latency_ms": {"p50": 100}, "backends": ["trt"]}, rep)
    assert q.status == "FAIL" and not q.configs and "no measured run" in q.notes[0]
    assert _q({"latency_ms": {"p50": 100}, "precisions": ["fp32"]}, rep).status == "PASS"


def _flop(flops, params, io=0, act=0):
    return FlopReport(model="m", macs=flops // 2, flops=flops, bias_flops=0, other_flops=0, flops_total=flops, params=params,
                      params_by_dtype={}, weight_bytes=params * 4, activation_bytes=act, peak_activation_bytes=act,
                      io_bytes=io, arithmetic_intensity=None, by_op_type={}, unknown_ops={}, unresolved_nodes=(),
                      lower_bound=False, free_nodes=0, constant_folded_nodes=0, bound_dims={})


def test_roofline_floor_by_hand():
    t = load_target_profile("rtx-4090")  # fp16 165.2 TFLOPS, 1008 GB/s
    s = stage_floor("dec", _flop(2 * 7_000_000_000, 7_000_000_000), 7, t, "fp16")
    assert s.memory_ms == pytest.approx(14e9 / 1008e9 * 1e3) and s.compute_ms == pytest.approx(14e9 / 165.2e12 * 1e3)
    assert s.bound == "memory" and s.lower_bound_ms == s.memory_ms
    p = predict({"dec": _flop(14_000_000_000, 7_000_000_000, act=1 << 20)}, {"dec": 7}, t, "int8", kv_cache_bytes=1000)
    assert p.step_lower_bound_ms == pytest.approx(7 * 7e9 / 1008e9 * 1e3)
    assert p.memory.total_bytes == 7_000_000_000 + 1000 + (1 << 20) and not p.memory.unified_memory


def test_predicted_vs_measured_efficiency_and_prediction_verdicts():
    t = load_target_profile("rtx-4090")
    p = predict({"policy_step": _flop(10**12, 10**6)}, {"policy_step": 1}, t, "fp32")
    m = with_measured(p, _report(mean_ms=40.0).runs)
    assert m.measured_step_p50_ms == pytest.approx(40.0, rel=0.01)
    assert m.step_efficiency == pytest.approx(p.step_lower_bound_ms / m.measured_step_p50_ms)
    spec = parse_spec({"latency_ms": {"p99": p.step_lower_bound_ms / 2}, "memory": {"headroom_pct": 10}})
    q = qualify_prediction(spec, [p], "s", "export", t)
    assert q.status == "FAIL" and q.basis == "predicted" and "even at peak" in q.configs[0].criteria[0].detail
    loose = parse_spec({"latency_ms": {"p99": 1000}})
    assert qualify_prediction(loose, [p], "s", "export", t).status == "INCONCLUSIVE"


def test_without_accuracy_limits_the_default_bands_judge_each_configuration():
    bands = lambda cos: dataclasses.replace(ACCURACY, action=dataclasses.replace(ACCURACY.action, cosine_min=cos))  # noqa: E731
    for cos, status in ((0.995, "PASS"), (0.97, "INCONCLUSIVE"), (0.9, "FAIL")):
        q = _q({"latency_ms": {"p50": 1000}}, _report(accuracy=bands(cos)))
        c = q.configs[0].criteria[-1]
        assert c.name == "accuracy: min cosine vs ort-cpu:fp32 (default bands)" and c.status == status
    assert len(_q({"latency_ms": {"p50": 1000}}, _report()).configs[0].criteria) == 1  # nothing measured, nothing added


def test_a_note_shared_by_many_criteria_is_written_once():
    """qualify once repeated one three-line caveat in every cell of its note column (10 cells for five
    configurations); now it is numbered, written out once, and each cell cites it."""
    from deployprof.report.sections import qualification_tables
    from deployprof.results import Qualification
    from deployprof.results.qualify import ConfigVerdict, Criterion

    caveat = "measured on a shared CPU: the interval assumes the load stayed the same"
    configs = tuple(ConfigVerdict("ort-cpu", p, 1, "PASS", (
        Criterion("p99 latency", 50.0, "ms", 40.0, (39.0, 41.0), 10.0, "PASS", caveat),
        Criterion("p50 latency", 45.0, "ms", 30.0, (29.0, 31.0), 15.0, "PASS", caveat),
        Criterion("peak memory", 1.0, "GiB", 0.5, None, 0.5, "PASS", f"host RSS of {p}"))) for p in ("fp32", "int8"))
    tables = qualification_tables(Qualification("spec.yaml", "report.json", "measured", None, "PASS", configs))
    cells = [row[-1] for t in tables for row in t.rows]
    assert cells.count("note 1") == 4 and "host RSS of int8" in cells and caveat not in cells
    assert tables[0].caption == f"note 1: {caveat}" and tables[1].caption == ""


def test_limits_per_action_dimension_name_the_joint_and_a_device_without_the_precision_fails():
    fp8 = _report(precision="fp8", accuracy=dataclasses.replace(ACCURACY, per_action_dim_max_abs=(0.02, 0.5)))
    q = _q({"accuracy": {"max_abs_error": [0.1, 0.1]}}, fp8)
    failed = [c for c in q.configs[0].criteria if c.status == "FAIL"]
    assert q.status == "FAIL" and [c.name for c in failed] == ["accuracy: max |action error| of dimension 1 vs ort-cpu:fp32"]
    assert _q({"accuracy": {"max_abs_error": [0.1, 0.6]}}, fp8).status == "PASS"
    assert _q({"accuracy": {"max_abs_error": [0.1, 0.6, 1]}}, fp8).status == "INCONCLUSIVE"   # 2 dimensions, 3 limits
    on_orin = _on(fp8, MeasuredDevice("jetson", "NVIDIA Jetson AGX Orin Developer Kit"))
    q = _q({"accuracy": {"max_abs_error": [0.1, 0.6]}}, on_orin, load_target_profile("jetson-agx-orin-64gb"))
    bad = [c for c in q.configs[0].criteria if c.status == "FAIL"]
    assert q.status == "FAIL" and "jetson-agx-orin-64gb cannot run fp8" in bad[0].detail


def test_int4_weights_fit_where_fp16_does_not():
    f = FlopReport("m", 1, 2, 0, 0, 2, 1_000_000_000, {"float32": 1_000_000_000}, 4_000_000_000, 0, 0, 0, None, {}, {},
                   (), False, 0, 0, {})
    nano = load_target_profile("jetson-orin-nano-8gb")
    p16 = predict({"m": f}, {"m": 1}, nano, "fp16", matmul_params=900_000_000)
    p4 = predict({"m": f}, {"m": 1}, nano, "int4", matmul_params=900_000_000)
    assert p16.memory.weights_bytes == 2_000_000_000
    assert p4.memory.weights_bytes == round(900_000_000 * (0.5 + 2 / 32) + 100_000_000 * 2)
    with pytest.raises(Exception, match="jetson-orin-nano-8gb cannot run fp8"):
        predict({"m": f}, {"m": 1}, nano, "fp8")
