"""Between-run statistics with injected samples: a known between-run variance, a known slowdown, load that hits
both sides of an interleaved pair alike. The rates are checked over many simulated trials, not one."""
import math

import numpy as np
import pytest

from deployprof.measure.between import (NOISE_PCT, Ratio, between_runs, decided, geometric_interval, paired, spread,
                                        t975, verdict)
from deployprof.measure.interleave import InterleaveConfig, interleave

from .fake_clock import FakeClock


def _runs(rng, base_ms, sd, n):
    """n independent runs' p50 with a between-run spread of `sd` (on the log scale)."""
    return list(base_ms * np.exp(rng.normal(0, sd, n)))


def test_t_quantiles():
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert abs(t975(60) - 2.000) < 0.003 and abs(t975(1000) - 1.962) < 0.002
    with pytest.raises(ValueError):
        t975(0)


def test_one_run_each_has_no_between_run_interval():
    """+107% between two single runs of identical work was once called a regression: with one run each the spread is
    unknown, and the verdict says so instead of guessing."""
    assert between_runs([1.0], [2.07]) is None
    assert verdict(None) == "unknown"
    assert spread([1.0]) is None and geometric_interval([2.0]) == (2.0, 2.0, 2.0)


def test_the_interval_covers_the_true_ratio_at_its_stated_rate():
    rng = np.random.default_rng(0)
    for true, n in ((1.0, 3), (1.25, 5), (0.8, 4)):
        hits = 0
        for _ in range(2000):
            r = between_runs(_runs(rng, 10.0, 0.15, n), _runs(rng, 10.0 * true, 0.15, n))
            hits += r.lo <= true <= r.hi
        assert 0.93 <= hits / 2000 <= 0.97, (true, n, hits)


def test_identical_work_is_rarely_called_and_a_known_slowdown_is_found():
    """The gate's two numbers on simulated runs with a 5% between-run spread (5 repetitions each side)."""
    rng = np.random.default_rng(1)
    trials = 1000
    false = sum(verdict(between_runs(_runs(rng, 3.0, 0.05, 5), _runs(rng, 3.0, 0.05, 5)), 5.0) == "regression"
                for _ in range(trials))
    found = sum(verdict(between_runs(_runs(rng, 3.0, 0.05, 5), _runs(rng, 3.75, 0.05, 5)), 5.0) == "regression"
                for _ in range(trials))
    assert false / trials < 0.01 and found / trials > 0.95


def test_a_stored_history_is_the_noise_floor_for_a_single_new_run():
    history = [2.0, 2.1, 1.95, 2.05, 2.0, 1.9]
    same = between_runs(history, [2.1], "history")
    assert same.basis == "history" and same.n_a == 6 and same.n_b == 1 and verdict(same) != "regression"
    slow = between_runs(history, [2.6], "history")
    assert verdict(slow) == "regression" and slow.lo > 1.1
    # The spread is the history's: a noisier history needs a bigger change before it calls one.
    assert verdict(between_runs([1.0, 2.0, 1.5, 3.0], [2.6], "history")) in ("inconclusive", "within noise")


def test_verdicts_against_a_threshold():
    r = Ratio(1.30, 1.15, 1.45, "repeats", 5, 5)
    assert verdict(r) == "regression" and verdict(r, 10.0) == "regression"
    assert verdict(r, 20.0) == "inconclusive" and verdict(r, 50.0) == "within noise"
    assert verdict(Ratio(0.7, 0.6, 0.8, "repeats", 5, 5)) == "improvement"
    assert verdict(Ratio(1.0, 0.99, 1.01, "repeats", 5, 5)) == "within noise"
    assert verdict(Ratio(1.0, 0.9, 1.1, "repeats", 5, 5)) == "inconclusive"
    assert NOISE_PCT == 2.0
    assert decided(Ratio(1.0, 0.98, 1.03, "interleaved", 9, 9), 5.0) and not decided(None, 5.0)
    assert not decided(Ratio(1.05, 1.01, 1.09, "interleaved", 9, 9), 5.0)


def test_paired_blocks_cancel_load_that_hits_both_sides():
    """A neighbour that triples every call in some pairs: unpaired runs cannot tell a 10% slowdown from it, the
    paired ratio can."""
    rng = np.random.default_rng(2)
    load = rng.choice([1.0, 3.0], size=40)
    a = 1.0 * load * np.exp(rng.normal(0, 0.02, 40))
    b = 1.1 * load * np.exp(rng.normal(0, 0.02, 40))
    r = paired(a, b)
    assert r.basis == "interleaved" and r.lo > 1.05 and abs(r.ratio - 1.1) < 0.02 and verdict(r, 5.0) == "regression"
    assert verdict(between_runs(a, b), 5.0) != "regression"   # the same samples, unpaired: lost in the load
    assert paired(a[:5], b[:5]) is None                        # too few blocks to bound a median at 95%


def test_interleaving_with_a_simulated_neighbour():
    """The driver in simulated time: B is 10% slower, a neighbour triples every call for 2 of each 5 s. The pair
    order is drawn at random, the measurement stops once the interval decides, and the ratio is B's true one."""
    clock = FakeClock()

    def work(ms):
        def call():
            slow = 3.0 if (clock.now_ns // 1_000_000_000) % 5 < 2 else 1.0
            clock.sleep(ms * slow / 1e3)
        return call

    t = interleave(work(1.0), work(1.1), cfg=InterleaveConfig(threshold_pct=5.0, max_s=120), clock=clock)
    assert t.stop == "decided" and t.calls_per_block >= 1 and 0 < sum(t.b_first) < len(t.b_first)
    assert t.ratio.lo > 1.05 and abs(t.ratio.ratio - 1.1) < 0.01
    same = interleave(work(1.0), work(1.0), cfg=InterleaveConfig(threshold_pct=5.0, max_s=120), clock=clock)
    assert same.stop == "decided" and same.ratio.hi < 1.05 and verdict(same.ratio, 5.0) != "regression"
    capped = interleave(work(1.0), work(1.03), cfg=InterleaveConfig(threshold_pct=3.0, max_s=2), clock=clock)
    assert capped.stop in ("time_cap", "decided") and capped.wall_s <= 2.5
    assert math.isfinite(capped.ratio.ratio)
