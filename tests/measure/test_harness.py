import time

import numpy as np

from deployprof.config import MeasureConfig
from deployprof.measure.harness import steady_state_index, time_callable
from deployprof.measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes

from .fake_clock import FakeClock


def test_iteration_count_and_every_sample_kept():
    calls = []
    t = time_callable(lambda: calls.append(1), lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0, warmup_max_s=0,
                                                                                      iterations=50))
    assert len(t.samples_ns) == 50 and len(t.warmup_ms) == 3 and len(calls) == 1 + 3 + 50


def test_duration_bounds_the_loop():
    clock = FakeClock()
    t = time_callable(clock.work(1.0), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, duration_s=0.1),
                      clock=clock)
    assert 0.1 <= t.loop_wall_s < 0.102 and len(t.samples_ns) == 100
    assert min(t.samples_ns) >= 1_000_000


def test_no_length_given_runs_until_the_statistics_converge():
    """Without --duration or --iterations a run lasts until the p50's CI is within 1% and the p99's is bounded."""
    clock = FakeClock()
    cfg = MeasureConfig(warmup_min_s=0)
    assert cfg.adaptive and cfg.stop_after_s == cfg.max_duration_s == 30.0
    t = time_callable(clock.work(10.0), lambda: None, cfg, clock=clock)
    assert t.stopped_by.startswith("converged: p50 CI +-0.0%, p99 CI bounded") and t.stop == "converged"
    assert 555 <= len(t.samples_ns) < 555 * 1.25 + 1  # 555 samples bound a p99 at 95% below the largest; checks +25%
    assert MeasureConfig(iterations=5).stop_after_s is None and MeasureConfig(duration_s=3).stop_after_s == 3


def test_an_adaptive_run_that_does_not_converge_stops_at_its_cap_and_says_so():
    clock = FakeClock()
    rng = np.random.default_rng(0)
    spread = lambda: clock.sleep(rng.uniform(0.1, 10.0) / 1e3)  # noqa: E731  (wide: the p50 CI stays over 1%)
    t = time_callable(spread, lambda: None, MeasureConfig(warmup_iterations=0, warmup_min_s=0, warmup_max_s=0,
                                                          max_duration_s=1.0), clock=clock)
    assert t.stopped_by.startswith("time cap 1 s, not converged: p50 CI +-") and 1.0 <= t.loop_wall_s < 1.011
    assert t.stop == "time_cap"


def test_fixed_lengths_say_so():
    clock = FakeClock()
    t = time_callable(clock.work(1.0), lambda: None, MeasureConfig(warmup_min_s=0, iterations=7), clock=clock)
    assert t.stopped_by == "7 iterations (--iterations)" and len(t.samples_ns) == 7 and t.stop == "iterations"


def test_each_call_is_timed_on_its_own():
    clock = FakeClock(tick_ns=0)
    t = time_callable(clock.work(5.0), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, warmup_max_s=0,
                                                                   iterations=20), clock=clock)
    assert t.samples_ns == [5_000_000] * 20 and t.first_run_ms == 5.0 and t.warmup_ms == [5.0]


def test_warmup_runs_until_count_and_time_are_met_and_the_timing_is_steady():
    clock = FakeClock(tick_ns=0)
    t = time_callable(clock.work(10.0), lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0.25, iterations=1),
                      clock=clock)
    assert len(t.warmup_ms) == 25 and t.warmup_steady  # 3 by count, 20 to judge steadiness, 0.25 s of 10 ms calls
    calls = iter(range(10_000))
    slowing = lambda: clock.sleep((1.0 + next(calls) * 0.5) / 1e3)  # noqa: E731  (never steady)
    t = time_callable(slowing, lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0, warmup_max_s=1.0,
                                                           iterations=1), clock=clock)
    assert t.warmup_steady is False and sum(t.warmup_ms) >= 1000.0


def test_steady_state_index():
    assert steady_state_index([10.0, 8.0, 5.0] + [1.0] * 20) == 3
    assert steady_state_index([1.0] * 20 + [5.0]) == 0  # one late outlier does not reset it


def test_memory_sampler_sees_an_allocation():
    before = current_rss_bytes()
    with MemorySampler(interval_s=0.005) as m:
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        deadline = time.monotonic() + 10  # the sampler thread may be slow to get a core on a loaded machine
        while m.rss_peak - before < 60 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.005)
        del block
    assert m.rss_peak - before >= 60 * 2**20 and peak_rss_bytes() >= m.rss_peak * 0.9


def test_device_events_come_from_a_pool_grown_between_calls_and_destroyed_on_close():
    """The cuda-bindings timer once made two events per call and never destroyed them."""
    from deployprof.measure.timers import EventPoolTimer

    clock = FakeClock(tick_ns=0)
    made, destroyed, timed = [], [], []
    inside = []

    def make():
        made.append(len(made))
        inside.append(in_call[0])
        return made[-1]

    in_call = [False]

    def work():
        in_call[0] = True
        clock.sleep(0.001)
        in_call[0] = False

    timer = EventPoolTimer(make, lambda ev, stream: timed.append(ev), lambda a, b: 1.0, destroyed.append, stream=None)
    t = time_callable(work, lambda: None, MeasureConfig(warmup_iterations=0, warmup_min_s=0, warmup_max_s=0,
                                                        iterations=600), timer, clock=clock)
    assert len(t.device_ms) == 600 and len(made) == 2 * 3 * EventPoolTimer.CHUNK and not any(inside)
    second = time_callable(work, lambda: None, MeasureConfig(warmup_iterations=0, warmup_min_s=0, warmup_max_s=0,
                                                             iterations=600), timer, clock=clock)
    assert len(second.device_ms) == 600 and len(made) == 2 * 3 * EventPoolTimer.CHUNK  # reused, none made
    timer.close()
    assert sorted(destroyed) == sorted(made) and timer.created == timer.destroyed
