"""One line per configuration that names what bounds it, from what was measured: launch-bound (the GPU idle
between kernels), copy-bound (host<->device copies against compute), or memory/compute-bound against the
roofline. Shown first in the terminal summary and the HTML report."""
from __future__ import annotations

from typing import Optional, Sequence

from .results import RooflinePrediction, RunResult, main_runs

LAUNCH_BOUND_BUSY = 0.50   # GPU busy under half the step: kernels wait on launches (NVML utilisation)


def _graph_speedup(r: RunResult, runs: Sequence[RunResult]) -> Optional[float]:
    twin = next((o for o in runs if o.cuda_graph and not r.cuda_graph and (o.backend, o.precision, o.batch, o.stage)
                 == (r.backend, r.precision, r.batch, r.stage)), None)
    return r.latency.p50_ms / twin.latency.p50_ms if twin and twin.latency.p50_ms > 0 else None


def _roofline_line(r: RunResult, roofline: Sequence[RooflinePrediction]) -> Optional[str]:
    device = r.measured_on.name if r.measured_on else None  # only the roofline of the device that ran this run
    p = next((p for p in roofline if p.precision == r.precision and p.batch == r.batch and p.measured_on == device), None)
    if p is None:
        return None
    measured = [s for s in p.stages if s.measured_p50_ms]
    if not measured:
        return None
    worst = max(measured, key=lambda s: s.measured_p50_ms * s.calls_per_step)
    eff = f" at {worst.efficiency:.1%} of its floor" if worst.efficiency is not None else ""
    return f"{worst.stage} dominates the step and is {worst.bound}-bound on {p.target}{eff}"


def finding(r: RunResult, runs: Sequence[RunResult], roofline: Sequence[RooflinePrediction]) -> Optional[str]:
    """The finding for one configuration (its policy step, or single stage), or None when nothing is known."""
    tag = f"{r.backend}{' (CUDA graph)' if r.cuda_graph else ''}/{r.precision} b{r.batch}"
    busy = r.telemetry.gpu_util_pct_mean / 100 if r.telemetry and r.telemetry.gpu_util_pct_mean is not None else None
    if busy is not None and busy < LAUNCH_BOUND_BUSY:
        speedup = _graph_speedup(r, runs)
        hint = (f"CUDA graphs measured {speedup:.1f}x faster" if speedup else
                "already a CUDA graph: the host glue between stages dominates" if r.cuda_graph else
                "try --cuda-graph both")
        return f"{tag}: launch-bound: the GPU was busy {busy:.0%} of the step (NVML); {hint}"
    t = r.transfers
    compute = r.device_latency.p50_ms if r.device_latency else r.latency.p50_ms
    if t is not None and t.h2d_mean_ms + t.d2h_mean_ms > compute:
        return (f"{tag}: copy-bound: host<->device copies take {t.h2d_mean_ms + t.d2h_mean_ms:.3f} ms against "
                f"{compute:.3f} ms of compute")
    line = _roofline_line(r, roofline)
    if line:
        return f"{tag}: {line}" + (f" (GPU busy {busy:.0%})" if busy is not None else "")
    return None


def findings(runs: Sequence[RunResult], roofline: Sequence[RooflinePrediction] = ()) -> tuple[str, ...]:
    return tuple(f for f in (finding(r, runs, roofline) for r in main_runs(runs)) if f)
