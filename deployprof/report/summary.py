"""Formatting shared by every renderer (numbers, bytes, percentiles with their CI), the runs a summary is about
(the whole policy step, or the single stage) and the one-sentence headline."""
from __future__ import annotations

from typing import Optional

from ..environment import device_text, measured_device
from ..precision_names import LOW
from ..results import AccuracyResult, ProfileReport, RunResult, main_runs


def fmt_ms(v: float) -> str:
    return f"{v:.3f}" if v < 10 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def fmt_bytes(n: Optional[int]) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def fmt_count(n: Optional[float]) -> str:
    if n is None:
        return "-"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def pct_ci(r: RunResult, p: str) -> str:
    """A percentile with its 95% interval: between repetitions when the run was repeated (--repeats), else the
    run's own order-statistic interval."""
    if r.repeats is not None and p in r.repeats.between_ci_ms:
        lo, hi = r.repeats.between_ci_ms[p]
        return f"{fmt_ms(getattr(r.latency, f'{p}_ms'))} [{fmt_ms(lo)}, {fmt_ms(hi)}] ({r.repeats.count} runs)"
    return pct_ci_stats(r.latency, p)


def pct_ci_stats(lat, p: str) -> str:
    lo, hi = lat.ci_ms[p]
    text = f"{fmt_ms(getattr(lat, f'{p}_ms'))} [{fmt_ms(lo)}, {fmt_ms(hi)}]"
    return text + " (few samples)" if p in lat.too_few_samples else text


def accuracy_cell(a: Optional[AccuracyResult]) -> str:
    if a is None:
        return "-"
    tokens = f", bins {a.token_agreement:.0%}" if a.token_agreement is not None else ""
    dims = f", dim {', '.join(map(str, a.failed_dims))} over its limit" if a.failed_dims else ""
    return f"{a.verdict}: cos min {a.action.cosine_min:.5f}, max {a.action.max_abs:.3g}{tokens}{dims}"


def accuracies(runs) -> tuple[AccuracyResult, ...]:
    return tuple(r.accuracy for r in runs if r.accuracy is not None)


def headline(report: ProfileReport) -> str:
    """One sentence a reader gets first: the fastest configuration's p99 on the whole step."""
    runs = main_runs(report.runs)
    if not runs and report.training:
        t = report.training[0]
        conv = f"loss down to {t.converge_target / t.loss_curve[0]:.0%} of its start after {t.converged_step} steps" \
            if t.converged_step else f"loss target not reached in {t.steps} steps"
        return (f"Training {t.preset} ({t.loss}) on {t.device}: {t.samples_per_s:.1f} samples/s at batch {t.batch}, "
                f"p50 step {fmt_ms(t.step_time.p50_ms)} ms, {conv}.")
    if not runs:
        return "No latency measured (static cost only)."
    # A p99 with too few samples behind it is no ranking; among the rest, runs whose p99 CIs overlap the best's tie.
    bounded = [r for r in runs if "p99" not in r.latency.too_few_samples] or runs
    best = min(bounded, key=lambda r: r.latency.p99_ms)
    hi = best.latency.ci_ms["p99"][1]
    ties = [r for r in bounded if r is not best and r.latency.ci_ms["p99"][0] <= hi]
    what = "policy step" if best.stage == "policy_step" else best.stage
    hz = 1000.0 / best.latency.p99_ms if best.latency.p99_ms > 0 else float("inf")
    tie = f" (tied within noise with {', '.join(label(r) for r in ties)})" if ties else ""
    return (f"Fastest: {label(best)}{tie}: {what} p50 {fmt_ms(best.latency.p50_ms)} ms, p99 {fmt_ms(best.latency.p99_ms)} "
            f"ms (a {fmt_hz(hz)} Hz loop at p99), measured on {device_text(measured_device(best, report.environment))}.")


def label(r: RunResult) -> str:
    return f"{r.backend}{' (CUDA graph)' if r.cuda_graph else ''} {r.precision} at batch {r.batch}"


def fmt_hz(hz: float) -> str:
    """Two significant figures below 10 Hz (a 0.53 Hz loop is not "a 1 Hz loop"), whole numbers above."""
    return f"{hz:.0f}" if hz >= 10 else f"{hz:.2g}"


def qualification_basis(q) -> str:
    """What a verdict rests on: measured (on which devices) or predicted, and for which target."""
    if q.basis == "predicted":
        return f"predicted on {q.target}"
    where = f"measured on {'; '.join(q.measured_on)}" if q.measured_on else q.basis
    return where + (f"; target {q.target}" if q.target else "")


def bench_closing(runs) -> str:
    """`bench`'s closing line (it stays under -q): the main run at each batch."""
    if not runs:
        return "No latency measured."
    return "; ".join(f"{label(r)}: {'policy step' if r.stage == 'policy_step' else r.stage} p50 "
                     f"{fmt_ms(r.latency.p50_ms)} ms, p99 {fmt_ms(r.latency.p99_ms)} ms" for r in main_runs(runs)) + "."


def accuracy_closing(a, export: str) -> str:
    """compare-precision's closing line (it stays under -q): each verdict, and what to run when one is not PASS."""
    verdicts = ", ".join(f"{r.precision} {r.verdict} (cos min {r.action.cosine_min:.4f})" for r in a.accuracy)
    failed = [r.precision for r in a.accuracy if r.verdict != "PASS"]
    if not failed:
        return f"{verdicts} against {a.reference}."
    nxt = next_step(failed, export)
    return f"{verdicts} against {a.reference}: {', '.join(failed)} not PASS (exit 3).{chr(10) + nxt if nxt else ''}"


def next_step(failed: list[str], subject: str) -> str:
    """What to run when a low precision is not PASS: precision-debug's search, or its mixed precision measured."""
    low = next((p.split("-")[0] for p in failed if p.split("-")[0] in LOW and not p.endswith("mixed")), None)
    if low is None:
        return ""
    return (f"Next: find the components that break {low} and keep them in FP32, or measure that mixed precision "
            f"directly (each command on a line of its own, to copy whole):\n"
            f"  deployprof precision-debug {subject} --precision {low} --out RUN\n"
            f"  deployprof profile {subject} --precisions fp32,{low},{low}-mixed --out DIR")


def predict_closing(p) -> str:
    """predict's closing line: each precision's step floor and whether it fits the device's memory."""
    parts = [f"{x.precision} {x.step_lower_bound_ms:.3f} ms, {x.memory.fraction_of_device:.0%} of "
             f"{fmt_bytes(x.memory.device_bytes)}{'' if x.memory.fraction_of_device <= 1 else ' (does not fit)'}"
             for x in p.predictions]
    target = p.predictions[0].target if p.predictions else "?"
    return f"Policy-step floor on {target}: " + "; ".join(parts) + "."
