"""Statistics of comparisons between runs: what `compare`, the store's gate, `--repeats` and interleaved A/B
measurements decide with. Pure functions of numbers, so tests hold them with injected samples.

Why not the within-run CIs: they say how well one run pinned its own percentile, nothing about the next run on the
same machine (load, clocks, cache and allocator state differ). Identical work measured twice on a shared 2-core box
differed by +107% with both runs' CIs a few % wide. Two standard ways to get the between-run variance, both here:
- repetitions at the level that varies (separate processes: Kalibera and Jones, ISMM 2013): the log of each run's
  statistic, a pooled two-sample t interval for the ratio B/A (both sides are the same configuration on the same
  machine, so under "no change" they share one variance; a side with one run borrows the other's spread, the way a
  stored history is the noise floor for a new run);
- interleaving (ABAB blocks in one window, so load hits both alike): the median of the paired block ratios with its
  distribution-free order-statistic interval (the one used for latency percentiles), robust to a block a load spike
  hit on one side only.
A change is called only when its interval clears a noise threshold (Criterion.rs's idea): a regression over PCT
means slower by more than PCT with 95% confidence, never a point estimate over PCT."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .stats import order_statistic_ci

LEVEL = 0.95
NOISE_PCT = 2.0      # without --fail-on-regression, a change is called only when its 95% interval clears +-2%
MIN_RUNS = 3         # between-run figures need at least this many runs of a configuration in all (two sides)

# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom; above 30, the Cornish-Fisher expansion.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Ratio:
    """B/A as a point value and its 95% interval, with how it was found (`basis`) and from how many runs/blocks."""
    ratio: float
    lo: float
    hi: float
    basis: str            # "repeats" | "history" | "interleaved" | "within-run"
    n_a: int
    n_b: int
    spread_pct: Optional[float] = None   # between-run (or between-block) spread of one run, as a % (sd of the logs)

    @property
    def pct(self) -> tuple[float, float, float]:
        return (self.ratio - 1) * 100, (self.lo - 1) * 100, (self.hi - 1) * 100


def _logs(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"run statistics must be finite and positive, got {list(values)[:5]}")
    return np.log(x)


def spread(values: Sequence[float]) -> Optional[float]:
    """Between-run spread of a statistic, as a %: the sd of its logs (None with fewer than two runs)."""
    x = _logs(values)
    return float(np.std(x, ddof=1) * 100) if x.size > 1 else None


def geometric_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """The geometric mean of independent runs' statistic and its 95% t interval (a single run: its value, twice)."""
    x = _logs(values)
    m = float(x.mean())
    if x.size < 2:
        return math.exp(m), math.exp(m), math.exp(m)
    h = t975(x.size - 1) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return math.exp(m), math.exp(m - h), math.exp(m + h)


def between_runs(a: Sequence[float], b: Sequence[float], basis: str = "repeats") -> Optional[Ratio]:
    """B/A from independent runs of each side (one statistic per run): geometric means, pooled-variance t interval
    of the difference of the log means. None when the runs carry no degree of freedom for their spread (fewer than
    MIN_RUNS in all), since the between-run variance would then be unknown."""
    xa, xb = _logs(a), _logs(b)
    if xa.size + xb.size < MIN_RUNS:
        return None
    df = xa.size + xb.size - 2
    ss = float(((xa - xa.mean()) ** 2).sum() + ((xb - xb.mean()) ** 2).sum())
    s = math.sqrt(ss / df)
    d = float(xb.mean() - xa.mean())
    h = t975(df) * s * math.sqrt(1 / xa.size + 1 / xb.size)
    return Ratio(math.exp(d), math.exp(d - h), math.exp(d + h), basis, int(xa.size), int(xb.size), s * 100)


def paired(a_blocks: Sequence[float], b_blocks: Sequence[float]) -> Optional[Ratio]:
    """B/A from interleaved blocks (a_blocks[i] and b_blocks[i] measured back to back): the median of the block
    ratios with its binomial order-statistic 95% interval; None while there are too few blocks to bound it (6)."""
    r = np.sort(_logs(b_blocks) - _logs(a_blocks))
    lo, hi = order_statistic_ci(len(r), 0.5, LEVEL)
    if hi is None:
        return None
    med = float(np.median(r))
    sd = float(np.std(r, ddof=1)) * 100 if len(r) > 1 else None
    return Ratio(math.exp(med), math.exp(float(r[lo - 1])), math.exp(float(r[hi - 1])), "interleaved", len(r), len(r), sd)


def verdict(ratio: Optional[Ratio], threshold_pct: Optional[float] = None) -> str:
    """regression: slower by more than the threshold (else NOISE_PCT) with 95% confidence; improvement: faster by
    more than it; within noise: the whole interval inside +-threshold; inconclusive: the interval straddles it;
    unknown: no between-run interval at all."""
    if ratio is None:
        return "unknown"
    t = (NOISE_PCT if threshold_pct is None else threshold_pct) / 100
    if ratio.lo > 1 + t:
        return "regression"
    if ratio.hi < 1 - t:
        return "improvement"
    if ratio.lo >= 1 - t and ratio.hi <= 1 + t:
        return "within noise"
    return "inconclusive"


def decided(ratio: Optional[Ratio], threshold_pct: float) -> bool:
    """An interleaved measurement may stop: its interval lies wholly on one side of +threshold (the gate's
    question: slower by more than it, or not)."""
    if ratio is None:
        return False
    t = 1 + threshold_pct / 100
    return ratio.lo > t or ratio.hi < t
