import threading
import time

import pytest

from deployprof.errors import ConfigError
from deployprof.measure.control import idle_gap_latencies, summarize_rate, time_at_rate
from deployprof.config import MeasureConfig
from deployprof.measure.harness import time_concurrent

from .fake_clock import FakeClock


def test_fast_requests_meet_every_deadline():
    clock = FakeClock()
    t = time_at_rate(clock.work(2.0), lambda: None, rate_hz=50, requests=15, clock=clock, sleep=clock.sleep)
    s = summarize_rate(t, 50, chunk=8)
    assert s["deadline_misses"] == 0 and s["requests"] == 15 and s["period_ms"] == 20
    assert 0.28 <= t.wall_s <= 0.29  # paced at the rate (14 periods + the last request), not back to back
    assert s["start_lag_max_ms"] < 0.01
    assert s["effective_action_rate_per_s"] == pytest.approx(8 / (s["response_p50_ms"] / 1e3), rel=0.01)


def test_slow_requests_miss_and_start_late():
    clock = FakeClock()
    t = time_at_rate(clock.work(15.0), lambda: None, rate_hz=100, requests=10, clock=clock, sleep=clock.sleep)
    s = summarize_rate(t, 100, chunk=None)
    assert s["deadline_miss_rate"] == 1.0 and s["effective_action_rate_per_s"] is None
    assert s["start_lag_max_ms"] == pytest.approx(9 * 5.0, abs=0.1)  # each request starts 5 ms later than the last


def test_rate_must_be_positive():
    with pytest.raises(ConfigError):
        time_at_rate(lambda: None, lambda: None, 0, 5)


def test_idle_gap_probe_sleeps_then_times_one_request():
    clock = FakeClock(tick_ns=0)
    slept = []
    out = idle_gap_latencies(clock.work(3.0), lambda: None, (0.01, 0.02), repeats=2, clock=clock,
                             sleep=lambda s: (slept.append(s), clock.sleep(s)))
    assert out == {"0.01": (3.0, 3.0), "0.02": (3.0, 3.0)} and slept == [0.01, 0.01, 0.02, 0.02]


def test_concurrent_requests_are_in_flight_together():
    """Checked by counting requests in flight, not by timing, so a loaded machine cannot fail it."""
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def request():
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1

    t = time_concurrent([request] * 4, lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, iterations=40))
    assert len(t.samples_ns) == 40 and state["max"] >= 2
