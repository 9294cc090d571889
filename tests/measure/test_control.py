import time

import pytest

from deployprof.errors import ConfigError
from deployprof.measure.control import idle_gap_latencies, summarize_rate, time_at_rate
from deployprof.measure.harness import MeasureConfig, time_concurrent


def test_fast_requests_meet_every_deadline():
    t = time_at_rate(lambda: time.sleep(0.002), lambda: None, rate_hz=50, requests=15)
    s = summarize_rate(t, 50, chunk=8)
    assert s["deadline_misses"] == 0 and s["requests"] == 15 and s["period_ms"] == 20
    assert 0.25 <= t.wall_s <= 0.6  # paced at the rate, not back to back
    assert s["start_lag_max_ms"] < 5 and s["effective_action_rate_per_s"] == pytest.approx(8 / (s["response_p50_ms"] / 1e3), rel=0.5)


def test_slow_requests_miss_and_start_late():
    t = time_at_rate(lambda: time.sleep(0.015), lambda: None, rate_hz=100, requests=10)
    s = summarize_rate(t, 100, chunk=None)
    assert s["deadline_miss_rate"] == 1.0 and s["start_lag_max_ms"] > 20 and s["effective_action_rate_per_s"] is None


def test_rate_must_be_positive():
    with pytest.raises(ConfigError):
        time_at_rate(lambda: None, lambda: None, 0, 5)


def test_idle_gap_probe_shapes():
    out = idle_gap_latencies(lambda: None, lambda: None, (0.01, 0.02), repeats=2)
    assert set(out) == {"0.01", "0.02"} and all(len(v) == 2 for v in out.values())


def test_concurrency_raises_throughput_of_waiting_work():
    t = time_concurrent([lambda: time.sleep(0.01)] * 4, lambda: None,
                        MeasureConfig(warmup_iterations=1, warmup_min_s=0, iterations=40))
    assert len(t.samples_ns) == 40
    throughput = len(t.samples_ns) / t.loop_wall_s
    assert throughput > 2.5 * (1 / 0.0105)  # four sleepers overlap: well above one at a time
