import time

from deployprof.config import DEFAULT_DURATION_S, MeasureConfig
from deployprof.measure.harness import steady_state_index, time_callable
from deployprof.measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes

from .fake_clock import FakeClock


def test_iteration_count_and_every_sample_kept():
    calls = []
    t = time_callable(lambda: calls.append(1), lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0, iterations=50))
    assert len(t.samples_ns) == 50 and len(t.warmup_ms) == 3 and len(calls) == 1 + 3 + 50


def test_duration_bounds_the_loop():
    clock = FakeClock()
    t = time_callable(clock.work(1.0), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, duration_s=0.1),
                      clock=clock)
    assert 0.1 <= t.loop_wall_s < 0.102 and len(t.samples_ns) == 100
    assert min(t.samples_ns) >= 1_000_000


def test_no_length_given_runs_for_the_default_duration():
    """The README's `profile`/`bench` without --duration or --iterations once crashed here (None * float)."""
    clock = FakeClock()
    cfg = MeasureConfig()
    assert cfg.iterations is None and cfg.duration_s is None and cfg.stop_after_s == DEFAULT_DURATION_S
    t = time_callable(clock.work(10.0), lambda: None, cfg, clock=clock)
    assert DEFAULT_DURATION_S <= t.loop_wall_s < DEFAULT_DURATION_S + 0.011
    assert len(t.samples_ns) == int(DEFAULT_DURATION_S / 0.010)
    assert MeasureConfig(iterations=5).stop_after_s is None and MeasureConfig(duration_s=3).stop_after_s == 3


def test_each_call_is_timed_on_its_own():
    clock = FakeClock(tick_ns=0)
    t = time_callable(clock.work(5.0), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, iterations=20),
                      clock=clock)
    assert t.samples_ns == [5_000_000] * 20 and t.first_run_ms == 5.0 and t.warmup_ms == [5.0]


def test_warmup_runs_until_count_and_time_are_both_met():
    clock = FakeClock(tick_ns=0)
    t = time_callable(clock.work(10.0), lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0.1, iterations=1),
                      clock=clock)
    assert len(t.warmup_ms) == 10  # 3 by count, but 0.1 s of 10 ms calls


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
