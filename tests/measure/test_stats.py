import numpy as np
import pytest

from deployprof.measure.stats import compute_stats, nearest_rank, order_statistic_ci


def test_nearest_rank_definition():
    s = np.arange(1, 101, dtype=float)
    assert nearest_rank(s, 0.5) == 50 and nearest_rank(s, 0.99) == 99 and nearest_rank(s, 0.999) == 100


def test_stats_fields_on_known_samples():
    st = compute_stats([float(i) for i in range(1, 1001)])
    assert st.min_ms == 1 and st.max_ms == 1000 and st.p50_ms == 500 and st.p99_ms == 990
    assert st.mean_ms == pytest.approx(500.5) and st.count == 1000 and st.percentile_method == "nearest-rank"
    lo, hi = st.ci_ms["p50"]
    assert lo < 500 < hi and hi - lo < 80
    assert "p999" in st.too_few_samples and "p50" not in st.too_few_samples


def test_too_few_samples_for_p99():
    st = compute_stats([1.0] * 100)
    assert "p99" in st.too_few_samples and "p90" not in st.too_few_samples


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
def test_ci_covers_true_quantile_at_stated_rate(p):
    """Over many simulated runs from a known distribution, the 95% CI covers the true quantile ~95%+."""
    rng = np.random.default_rng(1)
    n, trials = 400, 1500
    true_q = -np.log(1 - p)  # exponential(1) quantile
    lo_rank, hi_rank = order_statistic_ci(n, p, 0.95)
    assert hi_rank is not None
    data = np.sort(rng.exponential(size=(trials, n)), axis=1)
    covered = np.mean((data[:, lo_rank - 1] <= true_q) & (true_q <= data[:, hi_rank - 1]))
    assert 0.94 <= covered <= 0.995


def test_noisy_means_the_load_changed_not_a_wide_spread():
    rng = np.random.default_rng(0)
    assert not compute_stats(np.full(300, 2.0) + rng.normal(0, 0.01, 300)).noisy
    assert compute_stats(np.linspace(1.0, 2.0, 300)).noisy                      # a slow drift: the load changed
    step = np.concatenate([rng.normal(2.0, 0.05, 200), rng.normal(2.4, 0.05, 100)])
    assert compute_stats(step).noisy and compute_stats(step).drift_ratio > 0.15   # another job started
    wide = rng.lognormal(0.0, 0.5, 3000)                                        # a wide but stable distribution
    s = compute_stats(wide)
    assert s.iqr_over_median > 0.5 and not s.noisy and s.drift_ratio == 0.0


def test_convergence_needs_a_tight_p50_and_a_bounded_p99():
    from deployprof.measure.stats import convergence

    assert convergence(np.full(600, 2.0))[0] and not convergence(np.full(500, 2.0))[0]   # p99 bound needs 555
    ok, text = convergence(np.random.default_rng(1).uniform(1.0, 3.0, 600))
    assert not ok and text.startswith("p50 CI +-") and text.endswith("p99 CI bounded, 600 samples")


def test_a_long_run_keeps_thinned_samples_and_every_statistic_from_all_of_them():
    """3 million samples once made a 197 MB report.json: the report keeps KEPT_SAMPLES, in time order."""
    from deployprof.results import KEPT_SAMPLES

    x = np.arange(1, 100_001, dtype=np.float64) / 1000
    s = compute_stats(x)
    assert s.count == 100_000 and len(s.samples_ms) == KEPT_SAMPLES
    assert list(s.samples_ms) == sorted(s.samples_ms) and s.samples_ms[0] == x[0]
    assert s.max_ms == 100.0 and s.p50_ms == 50.0  # from all samples, not the kept ones
    assert len(compute_stats(x[:500]).samples_ms) == 500
