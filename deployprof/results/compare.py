"""Deltas between runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    a_ms: float
    b_ms: float
    delta_pct: float
    delta_ci_pct: tuple[float, float]   # conservative, of the ratio B/A: (B lo / A hi - 1, B hi / A lo - 1) x 100
    verdict: str                        # "regression" | "improvement" | "within noise"


@dataclass(frozen=True)
class RunDelta:
    key: tuple[Union[str, int, bool], ...]    # the matched fields of compare.KEY_FIELDS, in order, as text
    metrics: tuple[MetricDelta, ...]
    throughput_pct: float
    peak_rss_pct: Optional[float]


@dataclass(frozen=True)
class Regression:
    run: tuple[Union[str, int, bool], ...]
    metric: str
    delta_pct: float


@dataclass(frozen=True)
class Comparison:
    """`compare --json`: B against A, run by run; a regression needs the CIs apart (and beyond the threshold)."""
    a: str
    b: str
    runs: tuple[RunDelta, ...]
    only_a: tuple[tuple[Union[str, int, bool], ...], ...]
    only_b: tuple[tuple[Union[str, int, bool], ...], ...]
    context: tuple[str, ...]            # what differs between the two runs' settings, model and machine
    threshold_pct: Optional[float] = None
    regressions: tuple[Regression, ...] = ()
