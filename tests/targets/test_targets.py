import pytest

from deployprof.errors import ConfigError
from deployprof.targets import cpu_profile, list_targets, live_jetson_clock_ratio, load_target_profile

ISSUE_TARGETS = {"jetson-orin-nano-8gb", "jetson-orin-nx-16gb", "jetson-agx-orin-64gb", "jetson-thor", "rtx-4090", "l4",
                 "a100-sxm-80gb", "h100-sxm", "h200-sxm", "cpu"}


def test_every_device_the_issue_names_has_a_profile_with_cited_figures():
    assert ISSUE_TARGETS <= set(list_targets())
    for name in ISSUE_TARGETS - {"cpu"}:
        t = load_target_profile(name)
        assert t.sources and all(isinstance(v, str) and len(v) > 20 for v in t.sources.values())
        assert t.peak("fp32") > 0 and t.peak("fp16") > t.peak_tflops["fp32"] and t.peak("int8") >= t.peak("fp16")
        assert t.memory_bandwidth_gbs > 0 and t.memory_gib > 0 and t.typical_tensorrt
        assert t.unified_memory == (t.kind == "jetson")


def test_power_modes_scale_compute_and_bandwidth():
    maxn, low = load_target_profile("jetson-agx-orin-64gb"), load_target_profile("jetson-agx-orin-64gb@15W")
    r = maxn.power_modes["15W"]
    assert low.power_mode == "15W" and low.peak("fp16") == pytest.approx(maxn.peak("fp16") * r["gpu_clock_ratio"])
    assert low.memory_bandwidth_gbs == pytest.approx(maxn.memory_bandwidth_gbs * r["emc_ratio"])
    with pytest.raises(ConfigError, match="no power mode '99W'"):
        load_target_profile("jetson-agx-orin-64gb@99W")


def test_fp32_may_use_tf32_where_the_gpu_has_it():
    assert load_target_profile("a100-sxm-80gb").peak("fp32") == 156.0


def test_user_profiles_are_validated(tmp_path):
    good = tmp_path / "board.yaml"
    good.write_text("name: my-board\ndescription: x\nkind: gpu\nmemory_gib: 8\nunified_memory: false\n"
                    "memory_bandwidth_gbs: 100\npeak_tflops: {fp32: 1, fp16: 2, int8: 4}\n")
    assert load_target_profile(str(good)).peak("int8") == 4.0
    bad = tmp_path / "bad.yaml"
    for text, match in (("name: x\n", "missing"), ("[1, 2", "not valid YAML"),
                        (good.read_text().replace("fp32: 1", "fp32: -1"), "positive TFLOPS"),
                        (good.read_text() + "colour: red\n", "unknown field")):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_target_profile(str(bad))
    with pytest.raises(ConfigError, match="unknown target 'nope'"):
        load_target_profile("nope")


def test_cpu_profile_divides_by_a_measured_ceiling():
    t = cpu_profile(bandwidth_gbs=10.0)
    assert t.kind == "cpu" and t.peak("fp32") > 0 and t.memory_gib > 0
    assert t.sources["peak"].startswith("measured now: FP32 GEMM 2048x2048x2048") and "FLOP/cycle" in t.sources["peak_estimate"]
    given = cpu_profile(bandwidth_gbs=10.0, gemm_tflops=0.1)
    assert given.peak("fp32") == given.peak("fp16") == 0.1 and given.peak("int8") in (0.2, 0.4)
    assert "not measured" in given.sources["peak_int8"]
    assert live_jetson_clock_ratio(load_target_profile("jetson-agx-orin-64gb")) is None  # not a Jetson here


def test_the_cpu_ceilings_for_labels_are_measured_once_a_day_and_a_corrupt_cache_is_remeasured(tmp_path, monkeypatch):
    import deployprof.targets as targets

    monkeypatch.setenv("DEPLOYPROF_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(targets, "measure_gemm_tflops", lambda: (calls.append("gemm") or 0.5, "FP32 GEMM (test)"))
    monkeypatch.setattr(targets, "measure_bandwidth_gbs", lambda: calls.append("bw") or 12.0)
    first = targets.recent_cpu_profile(now=1_000_000.0)
    assert calls == ["gemm", "bw"] and first.peak_tflops["fp32"] == 0.5 and first.memory_bandwidth_gbs == 12.0
    again = targets.recent_cpu_profile(now=1_000_000.0 + 3600)
    assert len(calls) == 2 and again.peak_tflops["fp32"] == 0.5
    assert again.sources["peak"] == "measured 1970-01-12T13:46:40Z: FP32 GEMM (test)"
    targets.recent_cpu_profile(now=1_000_000.0 + targets.CEILINGS_TTL_S + 1)       # a day later: measured again
    assert len(calls) == 4
    (tmp_path / "cpu-ceilings.json").write_text('{"key": 1, "gemm_tflops": "NaN"')
    assert targets.recent_cpu_profile().peak_tflops["fp32"] == 0.5 and len(calls) == 6
