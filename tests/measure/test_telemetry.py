from deployprof.measure.telemetry import NvmlSampler


def _rows(clocks, throttle=False):
    return [{"power_mw": 100_000.0, "sm_mhz": c, "temp_c": 60.0, "util": 40.0, "throttle": throttle} for c in clocks]


def test_nvml_summary_records_the_clock_at_start_and_end_and_flags_a_drop():
    s = NvmlSampler()
    s.rows = _rows([1980.0, 1980.0, 1980.0])
    t = s.summary(1.0, 100, 8)
    assert not t.throttled and t.notes == ("SM clock 1980 MHz at start, 1980 MHz at end",)
    assert t.gpu_util_pct_mean == 40.0 and t.energy_per_inference_mj == 1000.0 and t.energy_per_action_mj == 125.0
    s.rows = _rows([1980.0, 1800.0, 1700.0])
    t = s.summary(1.0, 100, None)
    assert t.throttled and "fell by more than 5%" in t.notes[-1]
    s.rows = _rows([1980.0] * 3, throttle=True)
    assert "power-cap or thermal" in s.summary(1.0, 100, None).notes[1]
