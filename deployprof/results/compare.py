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
    delta_ci_pct: tuple[float, float]   # 95% interval of the change B/A - 1, x 100, found as `basis` says
    verdict: str                        # regression | improvement | within noise | inconclusive | unknown | flagged
    basis: str = "within-run"           # repeats | history | interleaved: between runs; within-run: no such spread
    runs_a: int = 1                     # independent runs (or interleaved blocks) behind each side
    runs_b: int = 1
    spread_pct: Optional[float] = None  # between-run spread of one run (sd of the logs, %), the noise floor used


@dataclass(frozen=True)
class RunDelta:
    key: tuple[Union[str, int, bool], ...]    # the matched fields of compare.KEY_FIELDS, in order, as text
    metrics: tuple[MetricDelta, ...]
    throughput_pct: float
    peak_rss_pct: Optional[float]
    flags: tuple[str, ...] = ()         # what makes either run untrustworthy (load changed, time cap, few samples...)


@dataclass(frozen=True)
class Regression:
    run: tuple[Union[str, int, bool], ...]
    metric: str
    delta_pct: float


@dataclass(frozen=True)
class Interleaved:
    """`compare --interleave`: A and B re-measured in alternating blocks in one process and window (each block the
    median of `calls_per_block` calls); the change is the median of the paired block ratios."""
    backend: str
    stage: str
    calls_per_block: int
    a_block_ms: tuple[float, ...]
    b_block_ms: tuple[float, ...]
    b_first: tuple[bool, ...]
    stop: str                           # decided | max_blocks | time_cap
    wall_s: float


@dataclass(frozen=True)
class Comparison:
    """`compare --json`: B against A, run by run; a regression is slower beyond the threshold with 95% confidence
    between runs (measure/between.py), and never called on a flagged run alone."""
    a: str
    b: str
    runs: tuple[RunDelta, ...]
    only_a: tuple[tuple[Union[str, int, bool], ...], ...]
    only_b: tuple[tuple[Union[str, int, bool], ...], ...]
    context: tuple[str, ...]            # what differs between the two runs' settings, model and machine
    threshold_pct: Optional[float] = None
    regressions: tuple[Regression, ...] = ()
    noise_pct: float = 2.0              # without a threshold, a change is called only beyond +-this (95% interval)
    interleaved: Optional[Interleaved] = None
    conclusion: str = ""                # the closing sentence, from the same verdicts as the table
