"""Every sentence a report tells its reader about the runs. Findings: one line per configuration naming what bounds
it, from what was measured: launch-bound (the GPU idle between kernels), copy-bound (host<->device copies against
compute), or memory/compute-bound against the roofline (shown first in the terminal summary and the HTML report).
Warnings: what the reader must know to trust the numbers (fallbacks, throttling, noise, caps, precision surprises,
a device not at spec), one line per cause."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from .measure.between import between_runs, verdict
from .results import (EAGER_MFU_MAX, POLICY_STEP, Breakdown, ComponentTime, FlopReport, RooflinePrediction, RunResult, main_runs,
                      run_flags, stop_of)

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


MATERIAL = 0.05   # a module the finding names holds at least 5% of the stage's node time


def top_modules(b: Breakdown, n: int = 3, max_depth: int = 4) -> list[ComponentTime]:
    """The n slowest modules holding MATERIAL of the node time, identical siblings as one, at the shallowest depth
    with n modules whose only material module is not a single wrapper (a stage wrapped in one module, like vision's
    `encoder`, is looked into). pi0-small's six identical layers, and its 1% modules after them, ranked differently
    on every run: a finding names what reproduces."""
    for depth in range(1, max_depth + 1):
        rows = b.grouped_at(depth)
        material = [c for c in rows[:n] if c.share >= MATERIAL]
        wrapper = len(material) == 1 and "*" not in material[0].name
        if depth == max_depth or not any(c.depth > depth for c in b.modules) or (len(rows) >= n and not wrapper):
            return material
    return []


def _component(c: ComponentTime) -> str:
    if c.bound == "unknown":
        return f"{c.name} {c.share:.0%}"
    at = c.floor_ms / c.mean_ms
    beyond = ": faster than the measured ceiling, which is below what this code reaches" if at > 1 else ""
    return f"{c.name} {c.share:.0%} ({c.bound}-bound, {at:.0%} of its roofline{beyond})"


def breakdown_finding(r: RunResult, runs: Sequence[RunResult]) -> Optional[str]:
    """Where the time of this configuration's slowest stage goes: its top three modules and what bounds each."""
    same = [o for o in runs if o.breakdown is not None and o.stage != POLICY_STEP and
            (o.backend, o.precision, o.batch, o.cuda_graph) == (r.backend, r.precision, r.batch, r.cuda_graph)]
    if not same:
        return None
    per_step = lambda o: r.stage_mean_ms.get(o.stage, o.latency.p50_ms)  # noqa: E731  (a stage's time in one step)
    slowest = max(same, key=per_step)
    b = slowest.breakdown
    named = top_modules(b)
    top = ", ".join(_component(c) for c in named) + ("" if len(named) == 3 else f"; no other module holds {MATERIAL:.0%}")
    return (f"{r.backend}/{r.precision} b{r.batch}: in {slowest.stage}, the slowest stage, {top} of the node time "
            f"(layer-time pass: {b.coverage:.0%} of the stage in nodes, profiling cost {b.overhead:.1f}x)")


def findings(runs: Sequence[RunResult], roofline: Sequence[RooflinePrediction] = (),
             calls: Optional[dict[str, int]] = None) -> tuple[str, ...]:
    """What bounds each configuration, then the figures that contradict each other (contradictions)."""
    lines = []
    for r in main_runs(runs):
        lines += [f for f in (finding(r, runs, roofline), breakdown_finding(r, runs)) if f]
    return tuple(lines + contradictions(runs, calls))


def run_warnings(runs: list[RunResult], flops: dict[str, FlopReport], calls: Optional[dict[str, int]] = None) -> list[str]:
    """What the reader must know about the runs; a cause shared by several stages of one configuration is one line
    listing them (a pi0 report once had two lines per stage and the summary below the first screen)."""
    out: list[str] = []
    grouped: dict[tuple, list[str]] = {}
    for r in runs:
        tag = f"{r.backend}/{r.precision} {r.stage}"
        config = (r.backend + (" (CUDA graph)" if r.cuda_graph else ""), r.precision, r.batch)
        if r.build.fallback:
            out.append(f"{tag}: FALLBACK: asked for {r.build.providers_requested[0]}, ran on {list(r.build.providers_active)}")
        if r.build.speed_only:
            out.append(f"{tag}: SPEED ONLY: INT8 engine without calibration data or Q/DQ nodes; its latency is real, "
                       "its outputs are not (use --precisions int8 for a calibrated engine)")
        if r.telemetry is not None and r.telemetry.throttled:
            out.append(f"{tag}: THROTTLING or clock changes during the run ({'; '.join(r.telemetry.notes)})")
        elif r.telemetry is not None and r.telemetry.clocks_locked is False:
            grouped.setdefault((*config, "clocks not locked (sudo jetson_clocks): latency may vary with DVFS"),
                               []).append(r.stage)
        if r.latency.noisy:
            grouped.setdefault((*config, "the load changed during the run (median of the last third apart from the "
                                "first's); close other load and measure again"), []).append(
                f"{r.stage} {r.latency.drift_ratio:+.1%}")
        if r.witness is not None and r.witness.agrees is False:
            out.append(f"{tag}: trtexec disagrees: our device p50 {r.witness.ours_device_p50_ms:.4f} ms against its GPU "
                       f"compute median {r.witness.gpu_compute_median_ms:.4f} ms (ratio {r.witness.ratio:.3f}, outside "
                       "0.98-1.02)")
        above = _above_floor(r)
        if above:
            c = r.breakdown.ceilings
            out.append(f"{tag}: faster than the roofline floor of {c.device if c else 'the device'} ({', '.join(above)}): "
                       f"the static count or the ceilings ({c.source if c else 'unknown'}) are off there; those rows' "
                       "bounds are not results")
        if stop_of(r) == "time_cap":
            grouped.setdefault((*config, f"did not converge within the time cap ({r.loop_wall_s:.0f} s): raise "
                                "--max-duration (report.json says how far each got)"), []).append(r.stage)
        elif "p99" in r.latency.too_few_samples:
            grouped.setdefault((*config, "too few samples for a bounded p99 confidence interval: run longer (or leave "
                                "out --iterations/--duration: runs then last until the p99 is bounded)"),
                               []).append(f"{r.stage} ({r.latency.count})")
    out += [f"{backend}/{precision} b{batch} {', '.join(stages)}: {cause}"
            for (backend, precision, batch, cause), stages in grouped.items()]
    for name, f in flops.items():
        if f.lower_bound:
            out.append(f"{name}: FLOPs are a lower bound ({sum(f.unknown_ops.values())} unknown-op nodes, "
                       f"{len(f.unresolved_nodes)} unresolved)")
    return out


def _above_floor(r: RunResult, most: int = 5) -> list[str]:
    """Components of a run's layer-time pass measured under their roofline floor (over 100% of it): impossible."""
    b = r.breakdown
    if b is None:
        return []
    rows = [(c.floor_ms / c.mean_ms, c.name) for c in (*b.modules, *b.op_types)
            if c.floor_ms is not None and c.mean_ms > 0 and c.floor_ms > c.mean_ms]
    rows.sort(reverse=True)
    return [f"{name} {x:.1%}" for x, name in rows[:most]] + ([f"{len(rows) - most} more"] if len(rows) > most else [])


STEP_SLOWDOWN = 1.5   # a stage inside the policy step over 1.5x its standalone time (or under 1/1.5) is a contradiction
PROFILED_SLOWER = 3.0  # a layer-time pass over 3x the latency pass: the shares are of a different run
RUNTIMES_APART = 5.0   # the same stage on two runtimes over 5x apart


def contradictions(runs: Sequence[RunResult], calls: Optional[dict[str, int]] = None) -> list[str]:
    """Figures of one report that disagree beyond a factor, each with which one to trust and why: a stage alone
    against the same stage inside the policy step, the layer-time pass against the latency pass, one stage on two
    runtimes. stage_mean_ms is per step (every call of the stage in it)."""
    calls = calls or {}
    alone = {(r.backend, r.precision, r.batch, r.cuda_graph, r.stage): r for r in runs}
    out = []
    for r in runs:
        if r.stage != POLICY_STEP or not r.stage_mean_ms:
            continue
        ratios = {stage: ms / (own.latency.mean_ms * calls.get(stage, 1)) for stage, ms in r.stage_mean_ms.items()
                  if (own := alone.get((r.backend, r.precision, r.batch, r.cuda_graph, stage))) and own.latency.mean_ms}
        tag = f"{r.backend}/{r.precision} b{r.batch}"
        slow = [f"{stage} {x:.1f}x" for stage, x in ratios.items() if x > STEP_SLOWDOWN]
        fast = [f"{stage} {1 / x:.1f}x" for stage, x in ratios.items() if x < 1 / STEP_SLOWDOWN]
        if slow:
            out.append(f"{tag} policy_step: stages slower inside the step than alone ({', '.join(slow)}): trust the "
                       "step's figure, it is what the robot runs; the stage alone is its best case. Threads fight for "
                       "the cores (another process, --spin, more --threads than free cores) or caches are evicted "
                       "between stages")
        if fast:
            flagged = [s for s in (x.split()[0] for x in fast) if run_flags(alone[(r.backend, r.precision, r.batch,
                                                                                    r.cuda_graph, s)])]
            why = (f"its run is flagged ({', '.join(flagged)}: see the warnings)" if flagged else
                   "a slow spell of the machine while it ran, or a cold start")
            out.append(f"{tag}: stages slower alone than inside the step ({', '.join(fast)}): trust the step's figure; "
                       f"the standalone run was disturbed ({why}); --repeats 3 shows whether it reproduces")
    for r in runs:
        b = r.breakdown
        if b is None or not b.latency_stage_ms:
            continue
        tag = f"{r.backend}/{r.precision} b{r.batch} {r.stage}"
        if b.overhead > PROFILED_SLOWER:
            out.append(f"{tag}: the profiler slowed the stage {b.overhead:.1f}x ({b.pass_stage_ms:.3f} ms profiled vs "
                       f"{b.latency_stage_ms:.3f} ms): trust the latency figure for time; the module shares are of the "
                       "profiled run, where small nodes weigh more")
        elif b.overhead < 1 / STEP_SLOWDOWN:
            out.append(f"{tag}: the profiled pass ran faster than the latency pass ({b.pass_stage_ms:.3f} ms profiled vs "
                       f"{b.latency_stage_ms:.3f} ms unprofiled, {b.overhead:.2f}x): profiling never speeds a stage up, "
                       "so the latency pass was disturbed (load, clocks); distrust its figure and measure again")
    by_stage: dict[tuple, list[RunResult]] = {}
    for r in runs:
        by_stage.setdefault((r.stage, r.precision, r.batch, r.cuda_graph), []).append(r)
    for (stage, precision, batch, _), rs in by_stage.items():
        if len(rs) < 2:
            continue
        lo, hi = min(rs, key=lambda r: r.latency.p50_ms), max(rs, key=lambda r: r.latency.p50_ms)
        if lo.latency.p50_ms > 0 and hi.latency.p50_ms / lo.latency.p50_ms > RUNTIMES_APART:
            x = hi.latency.p50_ms / lo.latency.p50_ms
            bad = [r.backend for r in (lo, hi) if run_flags(r)]
            trust = ("both runs are flagged (see the warnings): trust neither, measure again" if len(bad) == 2 else
                     f"{bad[0]} is flagged (see the warnings): trust the other" if bad else
                     "neither run is flagged: a difference of the runtimes, not of the measurement")
            out.append(f"{stage} {precision} b{batch}: {hi.backend} {x:.1f}x slower than {lo.backend} "
                       f"({hi.latency.p50_ms:.3f} vs {lo.latency.p50_ms:.3f} ms p50): {trust}")
    return out


def _p50s(r: RunResult) -> list[float]:
    return list(r.repeats.values_ms["p50"]) if r.repeats is not None else [r.latency.p50_ms]


def precision_warnings(runs: list[RunResult]) -> list[str]:
    """INT8 slower than FP16/FP32 (judged between runs with --repeats; with one run each, said with how to confirm
    it: separate runs of a shared machine can differ by more than any precision), a precision the runtime only
    emulates (its latency is not that precision's), and accuracy below PASS."""
    out = []
    by = {(r.backend, r.cuda_graph, r.stage, r.batch, r.precision): r for r in runs}
    whole = {r.stage for r in runs if r.stage == POLICY_STEP} or {r.stage for r in runs}  # judge the whole step
    for (backend, graph, stage, batch, prec), r in by.items():
        if not prec.startswith("int8") or stage not in whole:
            continue
        for other in ("fp16", "fp32"):
            o = by.get((backend, graph, stage, batch, other))
            if o is None:
                continue
            ratio = between_runs(_p50s(o), _p50s(r))
            if ratio is not None:
                if verdict(ratio) == "regression":
                    out.append(f"{backend} {stage}: {prec.upper()} is SLOWER than {other.upper()} ({ratio.pct[0]:+.0f}% "
                               f"[{ratio.pct[1]:+.0f}, {ratio.pct[2]:+.0f}] between {ratio.n_b} and {ratio.n_a} runs): "
                               "layers fall back or Q/DQ overhead dominates")
            elif r.latency.ci_ms["p50"][0] > o.latency.ci_ms["p50"][1]:
                out.append(f"{backend} {stage}: {prec.upper()} measured slower than {other.upper()} (p50 "
                           f"{r.latency.p50_ms:.3f} vs {o.latency.p50_ms:.3f} ms, one run each: separate runs differ "
                           f"by more than that on a shared machine): confirm with `deployprof compare --interleave` of "
                           f"the two exports, or profile with --repeats 3")
    emulated = {(r.backend, r.precision): r.build.precision_effective for r in runs
                if "(emulated" in r.build.precision_effective}
    out += [f"{b}/{p} ran {how.split('(', 1)[1].rstrip(')')}: its accuracy is {p}'s, its latency is not what {p} "
            f"arithmetic gives (measure that on a device that has it)" for (b, p), how in emulated.items()]
    for r in runs:
        a = r.accuracy
        if a is not None and a.verdict != "PASS":
            out.append(f"{r.backend}/{r.precision} batch {r.batch}: accuracy {a.verdict} against {a.reference} (max abs "
                       f"{a.action.max_abs:.4g}, min cosine {a.action.cosine_min:.5f}; {a.rule})")
    return out


class Warnings:
    """The one list of a command's warnings, passed through its pipeline: each kept once, in the order found. One
    found while work goes on is said at once (`warning: ...`, through `say`); one found as the result is assembled
    (say=False) is printed with the result's own list instead."""

    def __init__(self, say: Callable[[str], None] = lambda line: None, found: Sequence[str] = ()):
        self.say, self.items = say, list(dict.fromkeys(found))   # `found`: said already (while planning)

    def add(self, text: Optional[str], say: bool = True) -> None:
        if text and text not in self.items:
            self.items.append(text)
            if say:
                self.say(f"warning: {text}")

    def extend(self, texts: Sequence[str], say: bool = True) -> None:
        for text in texts:
            self.add(text, say)

    def __bool__(self) -> bool:
        return bool(self.items)


SHAPES_ONLY = "shapes-only export (weights without data): static cost only, no latency measured"
STEP_WITHOUT_GRAPHS = ("--cuda-graph times each stage as a graph replay; the policy step feeds its stages from the host, "
                       "so it is measured only without graphs")


def not_at_precision(backend: str, precision: str, runs_at: Sequence[str]) -> str:
    return f"{backend} has no {precision} here (it runs {', '.join(runs_at)}): not measured at {precision}"


def faster_than_floor(roofline: Sequence[RooflinePrediction]) -> list[str]:
    return [f"roofline on {p.target}, {p.precision}: measured faster than the floor ({p.step_efficiency:.0%} of it): "
            "the FLOP count, the bytes or the target's peak is wrong, not a result"
            for p in roofline if p.step_efficiency is not None and p.step_efficiency > 1.0]


def not_at_spec(check) -> str:
    """A board self-check (results.SelfCheck) that found the device below its datasheet."""
    return f"this {check.device} is not at spec against {check.target}: {check.notes[-1]}"


def skipped_backend(backend: str, reason: str) -> str:
    return f"skipped backend {backend}: {reason}"


def no_cuda_graph(backend: str, blocker: str, measured_without: bool) -> str:
    return f"{backend}: no CUDA graph ({blocker}); " + ("measured without" if measured_without else "not measured")


def mixed_not_found(precision: str, low: str, note: str) -> str:
    """precision-debug's search found no mixed set that passes (`note` says why)."""
    return f"{precision} not measured: {note} (precision-debug-{low}/precision-debug.json)"


def measured_elsewhere(target: str, device: str, against: Optional[str]) -> str:
    """Runs of a profile made on another device than --target's: the target's roofline is a floor for them only."""
    return (f"--target {target}: these runs were measured on {device}, not on {target}: its roofline is a floor only"
            + (f"; measured points are set against {against}'s roofline" if against else
               "; no target profile names this device, so no measured roofline"))


def mfu_problem(result) -> Optional[str]:
    """Why a train-bench MFU (results.TrainResult) is not a result: above the ceiling it divides by, or above what an
    eager loop can reach."""
    if result.mfu is None:
        return None
    if result.mfu > 1.0:
        return (f"MFU {result.mfu:.0%} of {result.mfu_target} exceeds the ceiling it divides by: the FLOP count or "
                "the peak is wrong, not the model")
    if result.mfu_implausible:
        return (f"MFU {result.mfu:.0%} of {result.mfu_target} is above the {EAGER_MFU_MAX:.0%} an eager training loop "
                "reaches: check the target's peak (a CPU's is measured; a GPU's is its datasheet's) and the FLOP count")
    return None


def partial_quantization(precision: str, stage: str, why: str) -> str:
    """A stage the quantizer could not take whole (precision_info's stages_quantized_at_compute_ops_only)."""
    return f"{precision}: stage {stage} {why}; its other ops stay in FP32"
