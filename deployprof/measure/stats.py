"""Latency statistics. Percentiles are nearest-rank (the value of sample ceil(p*n) in sorted order), and each
has a distribution-free confidence interval from binomial order statistics, as MLPerf LoadGen does."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

from ..results import LatencyStats

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
PERCENTILE_METHOD = "nearest-rank"
NOISY_IQR_OVER_MEDIAN = 0.10
NOISY_DRIFT = 0.05


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
    third = max(1, n // 3)
    drift = (float(np.median(x[-third:])) / float(np.median(x[:third])) - 1.0) if n >= 6 else 0.0
    iqr = (q3 - q1) / median if median > 0 else 0.0
    return LatencyStats(
        samples_ms=tuple(float(v) for v in x), count=n, min_ms=float(s[0]), mean_ms=mean,
        std_ms=float(x.std(ddof=1)) if n > 1 else 0.0,
        p50_ms=pct["p50"], p90_ms=pct["p90"], p95_ms=pct["p95"], p99_ms=pct["p99"], p999_ms=pct["p999"],
        max_ms=float(s[-1]), percentile_method=PERCENTILE_METHOD, ci_level=ci_level, ci_ms=ci,
        too_few_samples=tuple(too_few), cv=float(x.std(ddof=1) / mean) if n > 1 and mean > 0 else 0.0,
        iqr_over_median=iqr, drift_ratio=drift,
        noisy=bool(iqr > NOISY_IQR_OVER_MEDIAN or abs(drift) > NOISY_DRIFT))
