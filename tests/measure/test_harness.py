import time

from deployprof.measure.harness import MeasureConfig, steady_state_index, time_callable
from deployprof.measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes


def test_iteration_count_and_every_sample_kept():
    calls = []
    t = time_callable(lambda: calls.append(1), lambda: None, MeasureConfig(warmup_iterations=3, warmup_min_s=0, iterations=50))
    assert len(t.samples_ns) == 50 and len(t.warmup_ms) == 3 and len(calls) == 1 + 3 + 50


def test_duration_bounds_the_loop():
    t = time_callable(lambda: time.sleep(0.001), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, duration_s=0.1))
    assert 0.1 <= t.loop_wall_s < 0.5 and 10 <= len(t.samples_ns) <= 100
    assert min(t.samples_ns) >= 1_000_000


def test_sleep_is_measured_accurately():
    t = time_callable(lambda: time.sleep(0.005), lambda: None, MeasureConfig(warmup_iterations=1, warmup_min_s=0, iterations=20))
    med = sorted(t.samples_ns)[10] / 1e6
    assert 5.0 <= med < 8.0


def test_steady_state_index():
    assert steady_state_index([10.0, 8.0, 5.0] + [1.0] * 20) == 3
    assert steady_state_index([1.0] * 20 + [5.0]) == 0  # one late outlier does not reset it


def test_memory_sampler_sees_an_allocation():
    before = current_rss_bytes()
    with MemorySampler(interval_s=0.005) as m:
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.05)
        del block
    assert m.rss_peak - before >= 60 * 2**20 and peak_rss_bytes() >= m.rss_peak * 0.9
