"""`--repeats N`: one configuration's independent repetitions folded into one result. The latency is every
repetition's samples pooled (what a reader sees first); `Repeats` keeps each repetition's own percentiles and the
between-run interval that `compare` judges changes by."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from ..results import Repeats, RunResult, run_flags
from .between import geometric_interval, spread
from .stats import compute_stats

PERCENTILES = ("p50", "p90", "p95", "p99")


def fold(reps: Sequence[RunResult]) -> RunResult:
    """Repetitions of one stage (or policy step) of one configuration, in the order they ran; the first keeps what
    only it measured (accuracy, the layer-time pass, cold start)."""
    first = reps[0]
    if len(reps) == 1:
        return first
    values = {p: tuple(getattr(r.latency, f"{p}_ms") for r in reps) for p in PERCENTILES}
    flagged = tuple(f"repetition {i}: {f}" for i, r in enumerate(reps, 1) for f in run_flags(r))
    pooled = compute_stats([v for r in reps for v in r.latency.samples_ms])
    wall = sum(r.loop_wall_s for r in reps)
    return dataclasses.replace(
        first, latency=pooled, loop_wall_s=wall,
        throughput_per_s=sum(r.throughput_per_s * r.loop_wall_s for r in reps) / wall if wall > 0 else first.throughput_per_s,
        repeats=Repeats(len(reps), values, {p: geometric_interval(v)[1:] for p, v in values.items()},
                        {p: spread(v) for p, v in values.items()}, flagged))
