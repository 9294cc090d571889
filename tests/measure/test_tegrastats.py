from pathlib import Path

import pytest

from deployprof.measure.tegrastats import parse_jetson_clocks, parse_nvpmodel, parse_tegrastats
from deployprof.measure.telemetry import summarize_tegra

DATA = Path(__file__).parent.parent / "data" / "tegrastats"


def _lines(name):
    return [parse_tegrastats(l) for l in (DATA / name).read_text().splitlines() if l.strip()]


def test_xavier_bare_numbers_single_gpu_clock_and_vdd_in():
    s = _lines("xavier_jp4.txt")[0]
    assert (s.ram_used_mb, s.ram_total_mb, s.gpu_util_pct, s.gpu_freq_mhz, s.emc_freq_mhz) == (4722, 7844, 57.0, (1300,), 1866)
    assert s.rails_mw["VDD_IN"] == (14025.0, 14416.0) and s.rails_mw["VDD_DDR"] == (2031.0, 2063.0)
    assert s.board_power_mw == ("VDD_IN", 14025.0)
    assert s.temperatures_c["gpu"] == 40.0 and s.temperatures_c["tdiode"] == 41.25  # uppercase names before JetPack 5


def test_nano_pom_rails():
    s = _lines("nano_jp4.txt")[0]
    assert s.board_power_mw == ("POM_5V_IN", 3470.0) and set(s.rails_mw) == {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}
    assert s.gpu_freq_mhz == (921,)


def test_agx_orin_bracketed_clocks_mw_units_offline_sensors_and_sum_of_rails():
    s = _lines("agx_orin_jp5.txt")[0]
    assert s.gpu_util_pct == 87.0 and s.gpu_freq_mhz == (1300, 1300)
    assert "cv0" not in s.temperatures_c and s.temperatures_c["tj"] == 51.343  # -256C = sensor offline
    assert s.rails_mw["VDD_GPU_SOC"] == (14830.0, 14020.0)
    assert s.board_power_mw == ("sum of rails", 14830.0 + 2371.0 + 5330.0 + 1011.0)


def test_orin_nano_jetpack6_lowercase_temps_and_single_bracketed_clock():
    a, b = _lines("orin_nano_jp6.txt")
    assert a.gpu_freq_mhz == (1020,) and b.gpu_freq_mhz == (816,) and a.emc_freq_mhz is None
    assert a.board_power_mw == ("VDD_IN", 9876.0) and a.temperatures_c["cpu"] == 52.5


def test_thor_has_clocks_without_utilisation():
    s = _lines("thor_jp7.txt")[0]
    assert s.gpu_util_pct is None and s.gpu_freq_mhz == (1575, 1575, 1575)
    assert s.board_power_mw == ("sum of rails", 38120.0 + 9120.0)


def test_non_sample_lines_are_skipped():
    assert parse_tegrastats("tegrastats: permission denied") is None
    assert parse_tegrastats("") is None


def test_nvpmodel_and_jetson_clocks_outputs():
    assert parse_nvpmodel("NV Power Mode: MAXN\n0\n") == ("MAXN", 0)
    assert parse_nvpmodel("NVPM WARN: ...\nNV Power Mode: 15W\n1\n") == ("15W", 1)
    assert parse_nvpmodel("command not found") == (None, None)
    locked = "SOC family:tegra234  Machine:Jetson AGX Orin\ncpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600\nGPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000\n"
    assert parse_jetson_clocks(locked) is True
    assert parse_jetson_clocks(locked.replace("MinFreq=1300500000", "MinFreq=306000000")) is False
    assert parse_jetson_clocks("") is None


def test_summary_energy_per_inference_and_action_and_throttle_flags():
    samples = _lines("orin_nano_jp6.txt")
    t = summarize_tegra(samples, wall_s=2.0, inferences=100, actions_per_inference=50, source="tegrastats",
                        interval_ms=100, mode="MAXN_SUPER", locked=False)
    board = (9876.0 + 9412.0) / 2
    assert t.board_power_rail == "VDD_IN" and t.energy_per_inference_mj == pytest.approx(board * 2.0 / 100)
    assert t.energy_per_action_mj == pytest.approx(t.energy_per_inference_mj / 50)
    assert (t.gpu_freq_mhz_min, t.gpu_freq_mhz_max) == (816, 1020) and t.gpu_util_pct_mean == pytest.approx(61.0)
    assert t.throttled and any("816-1020" in n for n in t.notes) and any("not locked" in n for n in t.notes)
    steady = summarize_tegra(_lines("agx_orin_jp5.txt"), 1.0, 10, None, "tegrastats", 100, "MAXN", True)
    assert not steady.throttled and steady.energy_per_action_mj is None and steady.power_mw_max["VDD_GPU_SOC"] == 15230.0
    assert summarize_tegra([], 1.0, 1, None, "tegrastats", 100, None, None) is None
