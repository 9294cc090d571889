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


# The device x precision table (issue 45): FP8 on Ada, Hopper and Thor; FP4 on Thor only; BF16 from Ampere.
NATIVE = {"a100-sxm-80gb": {"bf16"}, "h100-sxm": {"bf16", "fp8"}, "h200-sxm": {"bf16", "fp8"}, "l4": {"bf16", "fp8"},
          "rtx-4090": {"bf16", "fp8"}, "jetson-orin-nano-8gb": {"bf16"}, "jetson-orin-nx-16gb": {"bf16"},
          "jetson-agx-orin-64gb": {"bf16"}, "jetson-thor": {"bf16", "fp8", "nvfp4"}}


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_each_device_runs_exactly_the_precisions_its_generation_has(name):
    t = load_target_profile(name)
    for p in ("bf16", "fp8", "nvfp4"):
        assert (t.refusal(p) is None) == (p in NATIVE[name]), (name, p)
    assert t.refusal("int4") is None and t.peak("int4") == t.peak("fp16")   # weight-only: FP16 arithmetic
    assert (t.refusal("fp8-mixed") is None) == (t.refusal("fp8") is None)


def test_an_impossible_combination_is_one_line_naming_device_and_precision():
    orin = load_target_profile("jetson-orin-nano-8gb")
    with pytest.raises(ConfigError) as e:
        orin.check(["fp16", "fp8"])
    text = str(e.value)
    assert "\n" not in text and "jetson-orin-nano-8gb cannot run fp8" in text and "Hopper" in text
    with pytest.raises(ConfigError, match="cannot run fp8"):
        orin.peak("fp8")   # never a floor either


def test_the_cpu_runs_bf16_and_fp8_emulated_with_floors_at_fp32():
    t = cpu_profile(bandwidth_gbs=10.0, gemm_tflops=0.5)
    assert t.refusal("fp8") is None and t.peak("fp8") == t.peak("bf16") == 0.5 and "emulated" in t.sources
    assert t.refusal("nvfp4") is not None


def test_the_old_fp8_flag_and_unknown_arithmetic_are_refused(tmp_path):
    base = ("name: b\ndescription: x\nkind: gpu\nmemory_gib: 8\nunified_memory: false\nmemory_bandwidth_gbs: 100\n"
            "peak_tflops: {fp32: 1, fp16: 2}\n")
    for extra, match in (("fp8: true\n", "peak_tflops keys"),):
        (tmp_path / "b.yaml").write_text(base + extra)
        with pytest.raises(ConfigError, match=match):
            load_target_profile(str(tmp_path / "b.yaml"))
    (tmp_path / "c.yaml").write_text(base.replace("fp16: 2", "fp16: 2, int3: 9"))
    with pytest.raises(ConfigError, match="unknown arithmetic int3"):
        load_target_profile(str(tmp_path / "c.yaml"))


def test_targets_shows_the_table(capsys):
    from deployprof.report.terminal import print_targets

    print_targets()
    out = capsys.readouterr().out
    assert "BF16" in out and "FP8" in out and "FP4" in out and "emul." in out
