"""Latency statistics. Percentiles are nearest-rank (the value of sample ceil(p*n) in sorted order), and each
has a distribution-free confidence interval from binomial order statistics, as MLPerf LoadGen does."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

from ..results import LatencyStats, thin_samples

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
PERCENTILE_METHOD = "nearest-rank"
NOISY_DRIFT = 0.05            # the last third's median this far from the first third's, with their CIs apart
P50_CI_HALF_WIDTH = 0.01      # an adaptive run has converged when the p50's 95% CI is within +-1% of it ...
                              # ... and the p99's CI is bounded below the largest sample (555 samples at 95%)


def nearest_rank(sorted_x: np.ndarray, p: float) -> float:
    n = len(sorted_x)
    return float(sorted_x[min(n, max(1, math.ceil(p * n))) - 1])


def _binom_cdf(n: int, p: float) -> np.ndarray:
    """cdf[k] = P(B <= k) for B ~ Binomial(n, p), computed in log space (exact for any n we keep)."""
    k = np.arange(n + 1, dtype=np.float64)
    lg = np.array([math.lgamma(i + 1.0) for i in range(n + 1)])
    logpmf = lg[n] - lg - lg[::-1] + k * math.log(p) + (n - k) * math.log1p(-p)
    pmf = np.exp(logpmf - logpmf.max())
    return np.cumsum(pmf) / pmf.sum()


@lru_cache(maxsize=256)
def order_statistic_ci(n: int, p: float, level: float = 0.95) -> tuple[int, Optional[int]]:
    """1-based ranks (l, u) with P(X_(l) <= q_p <= X_(u)) >= level. u is None when n is too small to bound q_p
    from above at this level."""
    alpha = 1.0 - level
    cdf = _binom_cdf(n, p)
    # X_(l) <= q_p  <=>  at least l samples <= q_p  <=>  B >= l ;  P(B >= l) = 1 - cdf[l-1]
    lo_candidates = np.nonzero(cdf <= alpha / 2)[0]          # cdf[l-1] <= alpha/2  ->  l-1 in candidates
    l = int(lo_candidates[-1]) + 1 if len(lo_candidates) else 1
    # X_(u) >= q_p  <=>  B <= u-1 ;  P(B <= u-1) = cdf[u-1] >= 1 - alpha/2
    hi_candidates = np.nonzero(cdf >= 1 - alpha / 2)[0]
    u = int(hi_candidates[0]) + 1 if len(hi_candidates) else None
    if u is not None and u > n:
        u = None
    return max(l, 1), u


def convergence(samples: Sequence[float]) -> tuple[bool, str]:
    """(converged, what the statistics say): the p50's 95% CI half-width against P50_CI_HALF_WIDTH, and whether the
    p99's CI is bounded. Any unit; called between iterations of an adaptive run, never inside one."""
    s = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(s)
    lo, hi = order_statistic_ci(n, 0.50)
    half = (s[(hi or n) - 1] - s[lo - 1]) / 2 / nearest_rank(s, 0.5) if n and nearest_rank(s, 0.5) > 0 else math.inf
    p99_hi = order_statistic_ci(n, 0.99)[1]
    bounded = p99_hi is not None and p99_hi < n
    text = f"p50 CI +-{half:.1%}, p99 CI {'bounded' if bounded else 'unbounded'}, {n} samples"
    return bool(hi is not None and half <= P50_CI_HALF_WIDTH and bounded), text


def _load_changed(x: np.ndarray) -> float:
    """Drift of the median from the first to the last third of the run, counted only when the two thirds' median
    CIs do not overlap (the load really changed); 0.0 otherwise."""
    third = len(x) // 3
    if third < 6:
        return 0.0
    a, b = np.sort(x[:third]), np.sort(x[-third:])
    lo, hi = order_statistic_ci(third, 0.5)
    if hi is None:
        return 0.0
    apart = a[hi - 1] < b[lo - 1] or b[hi - 1] < a[lo - 1]
    return float(np.median(b) / np.median(a) - 1.0) if apart else 0.0


def compute_stats(samples_ms: Sequence[float], ci_level: float = 0.95) -> LatencyStats:
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    s = np.sort(x)
    n = len(s)
    pct = {k: nearest_rank(s, p) for k, p in PERCENTILES.items()}
    ci: dict[str, tuple[float, float]] = {}
    too_few: list[str] = []
    for key, p in PERCENTILES.items():
        lo, hi = order_statistic_ci(n, p, ci_level)
        if hi is None or hi >= n:
            too_few.append(key)
        ci[key] = (float(s[lo - 1]), float(s[(hi or n) - 1]))
    mean = float(x.mean())
    median = pct["p50"]
    q1, q3 = nearest_rank(s, 0.25), nearest_rank(s, 0.75)
    drift = _load_changed(x)
    iqr = (q3 - q1) / median if median > 0 else 0.0
    return LatencyStats(
        samples_ms=thin_samples(x), count=n, min_ms=float(s[0]), mean_ms=mean,
        std_ms=float(x.std(ddof=1)) if n > 1 else 0.0,
        p50_ms=pct["p50"], p90_ms=pct["p90"], p95_ms=pct["p95"], p99_ms=pct["p99"], p999_ms=pct["p999"],
        max_ms=float(s[-1]), percentile_method=PERCENTILE_METHOD, ci_level=ci_level, ci_ms=ci,
        too_few_samples=tuple(too_few), cv=float(x.std(ddof=1) / mean) if n > 1 and mean > 0 else 0.0,
        iqr_over_median=iqr, drift_ratio=drift, noisy=bool(abs(drift) > NOISY_DRIFT))


def binomial_upper(k: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate seen k times in n trials (0 of 32: 8.9% at 95%)."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"k={k} of n={n}")
    if k == n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):   # P(B <= k; p) falls as p grows: bisect for 1 - level
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _binom_cdf(n, mid)[k] > 1 - level else (lo, mid)
    return hi
