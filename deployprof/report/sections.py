"""Every table deployprof shows, as data: (title, header, rows, caption). The terminal, Markdown and HTML render
these and nothing else of their own, so the three formats cannot disagree."""
from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple, Optional

from ..results import (OVERHEAD_FACTOR, AccuracyResult, Breakdown, Comparison, Evaluation, PrecisionDebugReport, ComponentTime, FlopReport, OpTypeCost, ProfileReport,
                       Qualification, RooflinePrediction, RunResult, main_runs, main_stage, stop_of)
from ..serial import to_dict
from ..precision_names import INT4_BLOCK
from .summary import accuracies, accuracy_cell, fmt_bytes, fmt_count, fmt_ms, pct_ci, pct_ci_stats


class Table(NamedTuple):
    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    caption: str = ""


def assumed_note(dims: dict[str, int]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in dims.items())
    return f"unbound input dimension(s) counted at {shown}; bind them with --dim NAME=N, or --strict to refuse"


def top_ops(by_op: dict[str, OpTypeCost], n: Optional[int] = 12) -> list[tuple[str, OpTypeCost]]:
    return sorted(by_op.items(), key=lambda kv: -kv[1].flops_total)[:n]


def _opt(v: Optional[float], fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _backend(r: RunResult) -> str:
    return r.backend + (" (CUDA graph)" if r.cuda_graph else "") + (" FALLBACK" if r.build.fallback else "")


def _precision(r: RunResult) -> str:
    return r.precision + (" (speed only)" if r.build.speed_only else "")


def summary_table(report: ProfileReport) -> Table:
    """One row per backend x precision x batch on the whole policy step (or the single stage), with its own accuracy."""
    rows = [(_backend(r), _precision(r), str(r.batch), pct_ci(r, "p50"), pct_ci(r, "p99"), f"{r.throughput_per_s:.1f}",
             fmt_bytes(r.memory.host_peak_rss_bytes), fmt_bytes(r.memory.device_peak_bytes),
             _opt(r.flops_per_run and r.flops_per_run / 1e9, ".3f"), _opt(r.achieved_gflop_per_s, ".2f"),
             _opt(r.speedup_vs_fp32, ".2f") + ("x" if r.speedup_vs_fp32 else ""),
             accuracy_cell(r.accuracy))
            for r in main_runs(report.runs)]
    refs = sorted({r.accuracy.reference for r in report.runs if r.accuracy})
    return Table(f"Summary: {main_stage(report.runs)} (nearest-rank percentiles, distribution-free 95% CI)",
                 ("backend", "precision", "batch", "p50 ms [95% CI]", "p99 ms [95% CI]", "throughput/s", "peak RSS",
                  "device mem", "GFLOPs", "GFLOP/s", "speed-up", f"accuracy vs {', '.join(refs) or 'reference'}"), rows)


def runs_table(runs: tuple[RunResult, ...]) -> Table:
    rows = [(r.stage + (" (on device)" if r.device_resident else ""), _backend(r), _precision(r), str(r.batch),
             pct_ci(r, "p50"), fmt_ms(r.latency.p90_ms), pct_ci(r, "p99"), str(r.latency.count),
             f"{r.throughput_per_s:.1f}", fmt_ms(r.device_latency.p50_ms) if r.device_latency else "-",
             fmt_bytes(r.memory.host_peak_rss_bytes), fmt_bytes(r.memory.device_peak_bytes),
             _opt(r.achieved_gflop_per_s, ".2f"), f"{r.cold_start.load_ms:.0f} / {fmt_ms(r.cold_start.first_run_ms)}",
             _ran(r), "load changed" if r.latency.noisy else "")
            for r in runs]
    return Table("All runs (latency in ms, nearest-rank; [95% CI])",
                 ("stage", "backend", "precision", "batch", "p50 [CI]", "p90", "p99 [CI]", "n", "thru/s", "device p50",
                  "peak RSS", "device mem", "GFLOP/s", "load / first ms", "ran", "noisy"), rows)


_STOPS = {"converged": "converged", "time_cap": "TIME CAP (not converged)", "iterations": "fixed count",
          "max_iterations": "sample cap", "duration": "fixed time", "rate": "fixed rate"}


def _ran(r: RunResult) -> str:
    """How long the timed loop ran and, in a word, why it stopped (report.json has the whole sentence)."""
    stop = stop_of(r)
    why = _STOPS[stop] if stop else (r.stopped_by or "")
    return f"{r.loop_wall_s:.1f} s" + (f" {why}" if why else "")


def stage_table(runs: tuple[RunResult, ...]) -> Table:
    """One column per stage (its mean ms within a step, all its calls), then the host glue between them."""
    stages = list(dict.fromkeys(k for r in runs for k in r.stage_mean_ms))
    rows = [(f"{r.backend}/{r.precision} b{r.batch}", *(fmt_ms(r.stage_mean_ms[k]) if k in r.stage_mean_ms else "-"
                                                       for k in stages), fmt_ms(r.glue_overhead_ms or 0.0))
            for r in runs if r.stage_mean_ms]
    return Table("Policy step breakdown (mean ms per step)", ("run", *stages, "host glue"), rows)


def control_table(runs: tuple[RunResult, ...]) -> Table:
    rows = [(f"{r.backend}/{r.precision}", r.stage, f"{c.rate_hz:g}", f"{c.deadline_misses}/{c.requests}",
             f"{c.deadline_miss_rate:.2%}", fmt_ms(c.response_p50_ms), fmt_ms(c.response_p99_ms),
             fmt_ms(c.start_lag_max_ms), fmt_ms(c.jitter_ms),
             f"{c.effective_action_rate_per_s:.0f} (chunk {c.chunk_length})" if c.effective_action_rate_per_s else "-",
             "; ".join(f"{gap} s: {', '.join(fmt_ms(v) for v in vals)}" for gap, vals in c.idle_gap_latency_ms.items()))
            for r in runs if (c := r.control)]
    return Table("Control loop (fixed rate; ms)", ("run", "stage", "Hz", "misses", "miss rate", "response p50",
                                                   "response p99", "start lag max", "jitter", "actions/s",
                                                   "after idle gap"), rows)


def telemetry_table(runs: tuple[RunResult, ...]) -> Table:
    rows = []
    for r in runs:
        t = r.telemetry
        if t is None:
            continue
        power = ", ".join(f"{k} {v / 1000:.2f} W" for k, v in t.power_mw_mean.items())
        rows.append((f"{r.backend}/{r.precision}", r.stage, t.source, power, _opt(t.energy_per_inference_mj, ".1f"),
                     _opt(t.energy_per_action_mj, ".2f"),
                     f"{t.gpu_freq_mhz_min:.0f}-{t.gpu_freq_mhz_max:.0f}" if t.gpu_freq_mhz_min is not None else "-",
                     f"{max(t.temperature_c_max.values()):.1f}" if t.temperature_c_max else "-",
                     t.power_mode or "-", {True: "yes", False: "NO", None: "-"}[t.clocks_locked],
                     "THROTTLED" if t.throttled else "", "; ".join(t.notes)))
    return Table("Power, clocks and temperature during the timed runs",
                 ("run", "stage", "source", "mean power", "mJ/inference", "mJ/action", "GPU MHz", "max C", "power mode",
                  "clocks locked", "", "notes"), rows)


def layers_table(runs: tuple[RunResult, ...]) -> Table:
    rows = [(f"{r.backend}/{r.precision}", l.stage, l.name[:70], l.precision or "-", f"{l.mean_ms:.4f}", f"{l.share:.1%}",
             ", ".join(l.onnx_nodes[:3]) + (" ..." if len(l.onnx_nodes) > 3 else ""))
            for r in runs for l in r.layers[:8]]
    return Table("Slowest engine layers (separate profiling pass)",
                 ("run", "stage", "layer", "precision", "mean ms", "share", "ONNX nodes"), rows)


def _work(v: Optional[int], scale: float) -> str:
    return "-" if v is None else f"{v / scale:.3g}"


def _time_cell(c: ComponentTime) -> str:
    """A component's time per run: the median over the pass's runs with its 95% interval, else the mean."""
    if c.median_ms is None:
        return f"{c.mean_ms:.4f} (mean)"
    return f"{c.median_ms:.4f}" + (f" [{c.ci_ms[0]:.4f}, {c.ci_ms[1]:.4f}]" if c.ci_ms else " (few runs)")


def _component_row(c: ComponentTime) -> tuple[str, ...]:
    return (c.name[:60], str(c.nodes), _time_cell(c), f"{c.share:.1%}", _work(c.flops, 1e6), _work(c.bytes, 1e6),
            _opt(c.achieved_gflop_per_s, ".3g"), _opt(c.achieved_gb_per_s, ".3g"), c.bound,
            "-" if c.floor_ms is None or c.mean_ms <= 0 else f"{c.floor_ms / c.mean_ms:.1%}"
            + (" (!)" if c.floor_ms > c.mean_ms else ""))


COMPONENT_HEADER = ("nodes", "ms per run [95% CI]", "share", "MFLOP", "MB", "GFLOP/s", "GB/s", "bound", "of roofline")


def _pass_caption(rs: list[RunResult]) -> str:
    """Per stage: the pass, its cost and coverage; then the roofline the bounds were judged on (once)."""
    parts = [f"{b.stage}: {b.source}, {b.runs} runs, {b.pass_stage_ms:.3f} ms profiled vs {b.latency_stage_ms:.3f} ms "
             f"unprofiled ({b.overhead:.2f}x), {b.coverage:.0%} in nodes, the pass {b.pass_wall_s:.1f} s" for b in (r.breakdown for r in rs) if b]
    c = next((r.breakdown.ceilings for r in rs if r.breakdown and r.breakdown.ceilings), None)
    notes = sorted({n for r in rs if r.breakdown for n in r.breakdown.notes})
    roof = (f"Bounds on the roofline of {c.device}: {c.peak_gflop_per_s:.4g} GFLOP/s {c.precision}, "
            f"{c.bandwidth_gb_per_s:.4g} GB/s ({c.source}); overhead-bound: over {OVERHEAD_FACTOR:g}x the floor; "
            "(!) over 100% of the roofline: faster than its floor, so a count or a ceiling is off."
            if c else "")
    return "; ".join(parts) + ". " + roof + " ".join(notes)


def ranks(rows: list[ComponentTime]) -> list[str]:
    """Rank of each row (slowest first); "N=" when its interval overlaps the row above's (or either has too few runs
    to bound one): the two cannot be told apart from this pass, so their order is not a finding. Rows of a profiler
    that does not tell runs apart (median_ms None) get plain ranks."""
    out = []
    for i, c in enumerate(rows):
        above = rows[i - 1] if i else None
        tied = (above is not None and c.median_ms is not None and above.median_ms is not None
                and (c.ci_ms is None or above.ci_ms is None or c.ci_ms[1] >= above.ci_ms[0]))
        out.append(f"{out[-1].rstrip('=')}=" if tied else str(i + 1))
    return out


def sibling_groups(b: Breakdown, top: int = 8) -> list[tuple[str, ...]]:
    """Modules that differ only by an index (layers.0.up, layers.1.up: the same code on the same shapes) compared as
    a group: how many, the median member, the fastest and slowest, and their ratio (well above 1: the runtime, not
    the module, makes the difference: first-call effects, thread wake-ups, the profiler)."""
    rows = []
    for name, cs in sorted(b.siblings().items(), key=lambda kv: -sum(c.time_ms for c in kv[1])):
        t = sorted(c.time_ms for c in cs)
        slowest = max(cs, key=lambda c: c.time_ms)
        rows.append((b.stage, name, str(len(cs)), f"{t[len(t) // 2]:.4f}", f"{t[0]:.4f}", f"{t[-1]:.4f} ({slowest.name})",
                     f"{t[-1] / t[0]:.1f}x" if t[0] > 0 else "-"))
    return rows[:top]


def breakdown_tables(runs: tuple[RunResult, ...], depth: int = 0, top: int = 8) -> list[Table]:
    """Per configuration: the slowest modules at `depth` (0: each stage's auto depth) with their rank (ties marked),
    identical siblings as groups, and op types per stage, from the layer-time pass; and one table of the runs that
    have none, with why."""
    configs: dict[str, list[RunResult]] = defaultdict(list)
    for r in runs:
        if r.breakdown is not None:
            configs[f"{_backend(r)}/{_precision(r)} b{r.batch}"].append(r)
    out = []
    for key, rs in configs.items():
        mod_rows, op_rows, sib_rows, depths = [], [], [], []
        for r in rs:
            b = r.breakdown
            d = depth or b.auto_depth()
            depths.append(f"{b.stage} {d}")
            rows, rest = b.at_depth(d)
            mod_rows += [(b.stage, rank, *_component_row(c)) for rank, c in zip(ranks(rows[:top]), rows[:top])]
            hidden = rest + sum(c.mean_ms for c in rows[top:])
            if hidden > 0:
                mod_rows.append((b.stage, "-", f"(rest: {len(rows[top:])} more modules, nodes above depth {d})", "-",
                                 f"{hidden:.4f} (mean)", f"{hidden / b.attributed_ms:.1%}" if b.attributed_ms else "-",
                                 *("-",) * 6))
            op_rows += [(b.stage, *_component_row(c)) for c in b.op_types[:top]]
            sib_rows += sibling_groups(b)
        caption = _pass_caption(rs) + (" Rank N=: its interval overlaps the row above's (cannot be told apart)."
                                       if any("=" in row[1] for row in mod_rows) else "")
        how = f"depth {depth}" if depth else f"auto depth ({', '.join(depths)})"
        out.append(Table(f"Where the time goes: {key}, modules at {how} (layer-time pass, median per run)",
                         ("stage", "rank", "module", *COMPONENT_HEADER), mod_rows, caption))
        out.append(Table(f"Identical siblings: {key} (modules that differ only by an index, same FLOPs)",
                         ("stage", "modules", "count", "median ms", "fastest ms", "slowest ms", "slowest / fastest"),
                         sib_rows))
        out.append(Table(f"Where the time goes: {key}, op types", ("stage", "op type", *COMPONENT_HEADER), op_rows))
    none = [(f"{_backend(r)}/{_precision(r)} b{r.batch}", r.stage, r.breakdown_unavailable)
            for r in runs if r.breakdown_unavailable]
    out.append(Table("No layer times", ("run", "stage", "why"), none))
    return out


def transfers_table(runs: tuple[RunResult, ...]) -> Table:
    rows = [(f"{r.backend}/{r.precision}", r.stage, fmt_ms(t.h2d_mean_ms), fmt_bytes(t.h2d_bytes), fmt_ms(t.d2h_mean_ms),
             fmt_bytes(t.d2h_bytes), str(t.repeats), "pinned" if t.pinned_host_memory else "pageable")
            for r in runs if (t := r.transfers)]
    return Table("Host<->device copies (own pass, CUDA events; not in the latency above)",
                 ("run", "stage", "H2D ms", "H2D bytes", "D2H ms", "D2H bytes", "repeats", "host memory"), rows)


def witness_table(runs: tuple[RunResult, ...]) -> Table:
    rows = [(f"{r.backend}/{r.precision} b{r.batch}", r.stage, fmt_ms(w.gpu_compute_median_ms),
             _opt(w.gpu_compute_p99_ms, ".4f"), _opt(w.ours_device_p50_ms, ".4f"), _opt(w.ratio, ".3f"),
             {True: "agrees", False: "DISAGREES", None: "-"}[w.agrees])
            for r in runs if (w := r.witness)]
    return Table("trtexec on the same engine files (GPU compute time; agreement within 0.98-1.02)",
                 ("run", "stage", "trtexec median ms", "trtexec p99 ms", "our device p50 ms", "ratio", ""), rows)


def flops_table(flops: dict[str, FlopReport], step_flops: Optional[int] = None,
                calls: Optional[dict[str, int]] = None) -> Table:
    rows = [(name, str((calls or {}).get(name, 1)), fmt_count(f.macs), fmt_count(f.flops_total), fmt_count(f.params),
             fmt_bytes(f.weight_bytes), fmt_bytes(f.peak_activation_bytes), _opt(f.arithmetic_intensity or None, ".2f"),
             "lower bound" if f.lower_bound else "exact")
            for name, f in flops.items()]
    if step_flops:
        rows.append(("policy step", "", "", fmt_count(step_flops), "", "", "", "", ""))
    return Table("Static cost per graph (dense FLOPs = 2 x MACs; total adds bias/elementwise/norm/softmax)",
                 ("graph", "calls/step", "MACs", "FLOPs total", "params", "weights", "peak activations", "FLOP/byte",
                  "count"), rows)


def weight_memory_table(by_precision: dict[str, int], params: int) -> Table:
    """The weights at each precision: what a target's memory must hold before activations and KV cache."""
    return Table(f"Weights per precision ({fmt_count(params)} parameters; int4: MatMul/Gemm weights at 4 bits + an "
                 f"FP16 scale per {INT4_BLOCK}, the rest FP16)", ("precision", "weight bytes"),
                 [(p, fmt_bytes(b)) for p, b in by_precision.items()])


def op_table(by_op: dict[str, OpTypeCost], n: int = 12) -> Table:
    rows = [(op, str(c.count), fmt_count(c.macs), fmt_count(c.flops_total)) for op, c in top_ops(by_op, n)]
    return Table(f"Top {n} op types by FLOPs total", ("op", "count", "MACs", "FLOPs total"), rows)


def node_table(name: str, report: FlopReport, n: int = 30) -> Table:
    rows = []
    for c in sorted(report.nodes, key=lambda c: -c.flops_total)[:n]:
        out = "x".join(map(str, c.output_shapes[0])) if c.output_shapes and c.output_shapes[0] is not None else "?"
        rows.append((c.name, c.op_type, out, fmt_count(c.macs), fmt_count(c.flops_total), fmt_bytes(c.bytes),
                     _opt(c.arithmetic_intensity or None, ".2f")))
    return Table(f"{name}: top {n} nodes by FLOPs total (of {len(report.nodes)})",
                 ("node", "op", "output shape", "MACs", "FLOPs total", "bytes", "FLOP/B"), rows)


def op_type_flops(report: ProfileReport) -> dict[str, float]:
    """FLOPs per op type over one policy step (each stage weighted by its calls per step)."""
    out: dict[str, float] = defaultdict(float)
    for name, f in report.flops.items():
        for op, c in f.by_op_type.items():
            out[op] += c.flops_total * report.model.calls_per_step.get(name, 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _component_name(s, shown: int = 3) -> str:
    """A component no module holds (`(Mul)`) with the names of its nodes, the first few and how many more."""
    names = s.node_names
    if not names:
        return s.component
    return f"{s.component}: {', '.join(names[:shown])}" + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


def precision_debug_tables(r: PrecisionDebugReport) -> list[Table]:
    """precision-debug: each component's share of the error (only it at the low precision / only it kept in FP32),
    every configuration the search judged, and what each kept component costs."""
    def cells(e: Evaluation) -> tuple[str, ...]:
        return (e.verdict, f"{e.cosine_min:.5f}", f"{e.max_abs:.3g}", f"{e.rel_l2:.3g}")

    rank = [(s.stage, _component_name(s), str(s.nodes), f"{s.share:.1%}", *cells(s.only_low), *cells(s.only_kept)[:2])
            for s in r.components]
    search = [(str(i), ", ".join(e.kept) or f"(none: all {r.precision})", *cells(e), fmt_ms(r.step_ms(e)),
               f"{e.vs_fp32:.2f}x" + (f" [{e.vs_fp32_ci[0]:.2f}, {e.vs_fp32_ci[1]:.2f}]" if e.vs_fp32_ci else " (unbounded)"),
               f"{e.seconds:.1f}") for i, e in enumerate(r.search)]
    share = {f"{s.stage}:{s.component}": s for s in r.components}
    kept = []
    for k in r.kept:
        stage, name = k.split(":", 1)
        s = share.get(k)
        cost = r.kept_cost_ms.get(k)
        kept.append((stage, _component_name(s) if s else name, str(s.nodes) if s else "-",
                     f"{s.share:.1%}" if s else "-",
                     "-" if k not in r.kept_cost_ms else f"{cost:+.3g}" if cost else "within noise"))
    outcome = (f"PASS keeping {', '.join(r.kept) or 'nothing'} in FP32" if r.passed else "no passing configuration")
    if r.selection_margin:
        outcome += f"; a set is selected only with {r.selection_margin:.0%} of the error budget to spare"
    c = r.confirmation
    confirmed = [] if c is None else [Table(
        f"Confirmed on {c.samples} fresh policy steps (seed {c.seed}, none of them seen by the search): {c.verdict}",
        ("kept in FP32", "verdict", "cos min", "max |err|", "fresh samples outside the rule",
         "share of inputs outside it (95% upper bound)"),
        [(", ".join(r.kept) or "(none)", c.verdict, f"{c.cosine_min:.5f}", f"{c.max_abs:.3g}",
          f"{c.outside} of {c.samples}", f"{c.outside_bound:.1%}")],
        "The search selects and this table confirms on different samples: a PASS judged on the samples that chose "
        "the set is biased upward.")]
    final = r.final()
    timing = (f"ms per policy step on {r.backend}: fp32 {fmt_ms(r.fp32_step_ms)}, {r.precision} {fmt_ms(r.step_ms(r.low))}"
              + (f", {r.precision}-mixed {fmt_ms(r.step_ms(final))}" if final else "")
              + " (the search's timings: each its median ratio to FP32 in blocks interleaved with FP32's, with its 95% "
                "interval, times FP32's in the quietest window; `profile` measures the result properly)")
    untouched = (f"; {len(r.untouched)} components without an op {r.precision} changes were not evaluated"
                 if r.untouched else "")
    return [Table(f"{r.precision} on {r.backend}: each component alone at {r.precision} (and alone kept in FP32), "
                  f"against {r.reference}, {r.samples} policy steps, components at depth {r.depth}{untouched}",
                  ("stage", "component", "nodes", "share of error", f"alone {r.precision}: verdict", "cos min",
                   "max |err|", "rel L2", "alone kept: verdict", "cos min"), rank),
            Table(f"Search: {outcome} ({r.evaluations} evaluations made, {r.wall_s:.1f} s)",
                  ("#", "kept in FP32", "verdict", "cos min", "max |err|", "rel L2", "ms/step", "vs fp32", "s"), search, r.note),
            *confirmed,
            Table(f"Kept in FP32 for {r.precision}-mixed: each component's share of the error and what keeping it costs "
                  "(ms per policy step, kept minus not kept)", ("stage", "component", "nodes", "share of error",
                                                                "ms/step"), kept, timing)]


def accuracy_table(accuracy: tuple[AccuracyResult, ...]) -> Table:
    """Each configuration's own actions against the reference; the caption says which rule gave each verdict."""
    rows = []
    for a in accuracy:
        e = a.action
        dims = a.per_action_dim_max_abs or a.per_action_dim_mean_abs   # a report before per-dimension maxima: means
        worst = f"{max(range(len(dims)), key=dims.__getitem__)} ({max(dims):.3g})" if dims else "-"
        if a.failed_dims:
            worst += f"; over its limit: {', '.join(map(str, a.failed_dims))}"
        growth = a.per_denoise_step_mean_abs
        # the verdict beside the configuration: at the end of 16 columns it sat behind a scrollbar at 1400 px
        rows.append((a.backend, a.ran_as or a.precision, str(a.batch), a.verdict, a.reference, str(a.samples), f"{e.max_abs:.4g}",
                     f"{e.mean_abs:.4g}", _opt(e.p90_abs, ".4g"), _opt(e.p99_abs, ".4g"), f"{e.rel_l2:.4g}",
                     f"{e.cosine_mean:.6f}", f"{e.cosine_min:.6f}", worst,
                     f"{growth[0]:.3g} -> {growth[-1]:.3g}" if growth else "-", _opt(a.token_agreement, ".1%")))
    rules = sorted({a.rule for a in accuracy})
    return Table("Accuracy of each configuration against the reference (same seeded inputs and noise, action space)",
                 ("backend", "precision (as the runtime ran it)", "batch", "verdict", "reference", "samples", "max |err|",
                  "mean |err|", "p90 |err|", "p99 |err|", "rel L2", "cosine mean", "cosine min", "worst action dim (max |err|)",
                  "error over the loop", "bin agreement"), rows, "Verdicts: " + "; ".join(rules) if rules else "")


def roofline_tables(predictions: tuple[RooflinePrediction, ...]) -> list[Table]:
    out = []
    for p in predictions:
        rows = [(s.stage, str(s.calls_per_step), f"{s.flops / 1e9:.3f}", f"{s.min_bytes / 1e6:.1f}", f"{s.compute_ms:.4f}",
                 f"{s.memory_ms:.4f}", f"{s.lower_bound_ms:.4f}", s.bound,
                 fmt_ms(s.measured_p50_ms) if s.measured_p50_ms else "-", _efficiency(s.efficiency))
                for s in p.stages]
        m = p.memory
        measured = (f"; measured {fmt_ms(p.measured_step_p50_ms)} ms ({_efficiency(p.step_efficiency)} of the roofline)"
                    if p.measured_step_p50_ms else "")
        caption = (f"policy step floor {p.step_lower_bound_ms:.3f} ms{measured}. Memory: weights "
                   f"{fmt_bytes(m.weights_bytes)} + KV {fmt_bytes(m.kv_cache_bytes)} + activations "
                   f"{fmt_bytes(m.peak_activation_bytes)} = {fmt_bytes(m.total_bytes)}, {m.fraction_of_device:.1%} of "
                   f"{fmt_bytes(m.device_bytes)}" + (" (unified with the OS and the robot stack)" if m.unified_memory else ""))
        if p.assumed_dims:
            caption += f". Note: {assumed_note(p.assumed_dims)}"
        mode = f"@{p.power_mode}" if p.power_mode else ""
        out.append(Table(f"Roofline floor on {p.target}{mode}, {p.precision} (peak {p.peak_tflops:g} TFLOPS, "
                         f"{p.memory_bandwidth_gbs:g} GB/s), batch {p.batch}",
                         ("stage", "calls", "GFLOPs/call", "min MB/call", "compute ms", "memory ms", "floor ms/call",
                          "bound", "measured p50", "efficiency"), rows, caption))
    return out


def _mfu_cell(t) -> str:
    if t.mfu is None:
        return "-"
    return f"implausible ({t.mfu:.1%} of {t.mfu_target}): see warnings" if t.mfu_implausible else f"{t.mfu:.1%} of {t.mfu_target}"


def _efficiency(v: Optional[float]) -> str:
    return "-" if not v else f"implausible ({v:.0%})" if v > 1.0 else f"{v:.1%}"


def training_table(training) -> Table:
    rows = []
    for t in training:
        conv = (f"step {t.converged_step} ({t.converged_s:.1f} s)" if t.converged_step else f"not within {t.steps} steps")
        rows.append((t.preset, t.loss, t.device, str(t.batch), f"{t.optimizer} lr {t.lr:g}", t.mixed_precision or "fp32",
                     "yes" if t.grad_checkpointing else "", fmt_count(t.frozen_params) if t.frozen_params else "",
                     pct_ci_stats(t.step_time, "p50"), f"{t.samples_per_s:.1f}", f"{t.epoch_s:.1f} ({t.dataset_size})",
                     f"{t.loss_curve[0]:.4g} -> {t.loss_curve[-1]:.4g}", f"{conv}, target {t.converge_target:.4g}",
                     fmt_bytes(t.host_peak_rss_bytes), fmt_bytes(t.device_peak_bytes), fmt_count(t.train_flops_per_step),
                     f"{t.achieved_tflops * 1e3:.2f}", _mfu_cell(t)))
    return Table("Training (behaviour cloning on a seeded synthetic dataset)",
                 ("preset", "loss", "device", "batch", "optimizer", "precision", "checkpointing", "frozen",
                  "step ms p50 [CI]", "samples/s", "epoch s (samples)", "loss first -> last", "convergence", "host peak",
                  "device peak", "train FLOPs/step (3x fwd)", "GFLOP/s", "MFU"), rows)


def environment_table(report: ProfileReport) -> Table:
    e = report.environment
    rows = [("deployprof", e.deployprof_version), ("python", e.python), ("platform", e.platform),
            ("CPU", f"{e.cpu_model} ({e.cpu_count} logical)"), ("GPUs", ", ".join(e.gpus) or "-"),
            ("driver", e.driver_version or "-"),
            *((("GPU state", ", ".join(f"{k} {v:g}" for k, v in e.gpu_state.items())),) if e.gpu_state else ()),
            *((k, str(v)) for k, v in (("Jetson", e.jetson_model), ("L4T", e.l4t_release), ("power mode", e.power_mode),
                                       ("clocks locked", e.clocks_locked)) if v is not None),
            *((k, v or "not installed") for k, v in e.packages.items()),
            ("model", f"{report.model.source} ({report.model.family or 'custom'}, exporter {report.model.exporter})"),
            *((f"sha256 {k}", v[:16] + "...") for k, v in report.model.stage_sha256.items())]
    if report.settings is not None:
        s = report.settings
        length = f"{s.iterations} iterations" if s.iterations else f"{s.stop_after_s:g} s"
        rows.append(("settings", f"{length} after >= {s.warmup_iterations} warm-up / {s.warmup_min_s:g} s, batches "
                                 f"{', '.join(map(str, s.batches))}, seed {s.seed}, launcher {s.launcher}"))
    return Table("Environment and model", ("", ""), rows)


def provenance_table(report: ProfileReport) -> Table:
    seen, rows = set(), []
    for r in report.runs:
        b = r.build
        key = (b.backend, b.precision_requested, r.stage if b.engine else "")
        if key in seen:
            continue
        seen.add(key)
        detail = ", ".join(f"{k}={v}" for k, v in b.options.items())
        if b.engine:
            e = b.engine
            detail = (f"{r.stage}: TensorRT {e.tensorrt_version} on {e.gpu_name} (sm {e.compute_capability}), {e.build_mode}, "
                      f"{e.layer_count} layers {e.layer_precisions}, engine {fmt_bytes(e.engine_bytes)}, "
                      f"{'cached' if e.reused_from_cache else f'built in {e.build_s:.1f} s'}, key {e.cache_key}")
        rows.append((b.backend, f"{b.runtime} {b.runtime_version}", b.device, f"{b.precision_requested} -> {b.precision_effective}",
                     ", ".join(b.providers_active) + (" (FALLBACK)" if b.fallback else ""), detail))
    for p, info in report.precision_info.items():
        rows.append(("precision", p, "", "", "", str(to_dict(info))[:300]))
    return Table("Build provenance", ("backend", "runtime", "device", "precision", "active", "detail"), rows)


def run_label(key) -> str:
    """A compared run's key as text: its stage, backend, precision, batch, and "CUDA graph" when it was one."""
    return " ".join("CUDA graph" if k is True else str(k) for k in key if k is not False)


BASIS = {"repeats": "between repeated runs", "history": "against the stored history's spread",
         "interleaved": "interleaved blocks", "within-run": "one run each: not judged"}


def comparison_table(c: Comparison) -> Table:
    """One row per matched run: each percentile A -> B with the change and its 95% interval, the verdict and what
    the interval rests on (repeats, stored history, interleaved blocks; or one run each, shown but not judged)."""
    metrics = c.runs[0].metrics if c.runs else ()
    rows = [(run_label(r.key),
             *(f"{fmt_ms(m.a_ms)} -> {fmt_ms(m.b_ms)} ({m.delta_pct:+.1f}% [{m.delta_ci_pct[0]:+.1f}, "
               f"{m.delta_ci_pct[1]:+.1f}])" for m in r.metrics),
             ", ".join(f"{m.metric} {m.verdict}" for m in r.metrics),
             "; ".join(dict.fromkeys(f"{BASIS.get(m.basis, m.basis)} ({m.runs_a} vs {m.runs_b}"
                                     + (f", spread {m.spread_pct:.1f}%" if m.spread_pct is not None else "") + ")"
                                     for m in r.metrics)),
             f"{r.throughput_pct:+.1f}%", _opt(r.peak_rss_pct, "+.1f") + ("%" if r.peak_rss_pct is not None else ""))
            for r in c.runs]
    limit = c.noise_pct if c.threshold_pct is None else c.threshold_pct
    return Table(f"B against A: B = {c.b}; A = {c.a} (change of B/A, % with its 95% interval between runs; "
                 f"'regression': slower by more than {limit:g}% with 95% confidence)",
                 ("run", *(f"{m.metric} A -> B ms" for m in metrics), "verdicts", "judged on", "throughput",
                  "peak RSS"), rows)


def qualification_tables(q: Qualification) -> list[Table]:
    """One table per configuration. A note shared by several criteria (the same caveat on every latency line of
    every configuration) is numbered and written out once, under the first table that cites it."""
    details = [k.detail for c in q.configs for k in c.criteria if k.detail]
    shared = {d: i for i, d in enumerate(dict.fromkeys(d for d in details if details.count(d) > 1), 1)}
    written: set[str] = set()
    out = []
    for c in q.configs:
        rows, caption = [], []
        for k in c.criteria:
            unit = f" {k.unit}" if k.unit and k.unit != "fraction" else ""
            note = k.detail
            if note in shared:
                if note not in written:
                    written.add(note)
                    caption.append(f"note {shared[note]}: {note}")
                note = f"note {shared[note]}"
            rows.append((k.name, f"{_num(k.limit)}{unit}", "-" if k.value is None else f"{_num(k.value)}{unit}",
                         "-" if k.ci is None else f"[{_num(k.ci[0])}, {_num(k.ci[1])}]",
                         "-" if k.margin is None else f"{k.margin:+.4g}{unit}", k.status, note))
        out.append(Table(f"{c.backend} / {c.precision} / batch {c.batch}: {c.status}",
                         ("criterion", "limit", "value", "95% CI", "margin", "verdict", "note"), rows,
                         "; ".join(caption)))
    return out


def _ci(v: Optional[float], ci) -> str:
    if v is None:
        return "-"
    return fmt_ms(v) + (f" [{fmt_ms(ci[0])}, {fmt_ms(ci[1])}]" if ci else "")


def history_table(h) -> Table:
    """`history`: stored runs, oldest first."""
    rows = [(str(r.result_id), r.created_utc[:19], r.commit or "-", r.subject or "-", r.device or "-",
             f"{r.backend}{' graph' if r.cuda_graph else ''}", r.precision, str(r.batch), r.mode, r.stage,
             _ci(r.p50_ms, r.p50_ci_ms), _ci(r.p99_ms, r.p99_ci_ms),
             f"{r.throughput_per_s:.1f}" if r.throughput_per_s else "-",
             f"{r.accuracy_cosine_min:.5f} {r.accuracy_verdict}" if r.accuracy_cosine_min is not None else "-")
            for r in h.rows]
    return Table("Stored results", ("id", "created (UTC)", "commit", "subject", "device", "backend", "precision",
                                    "batch", "mode", "stage", "p50 ms [CI]", "p99 ms [CI]", "per s", "accuracy"), rows,
                 f"store: {h.store}")


def sweep_table(s) -> Table:
    """`sweep`: one row per configuration, with its status and where its numbers come from."""
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    rows = [(e.subject, e.backend, e.precision, str(e.batch), e.target or "-", e.device or e.measured_on or "-",
             e.status + (f": {e.error}" if e.error else ""), num(e.p50_ms, ".3f"), num(e.p99_ms, ".3f"),
             num(e.accuracy_rel_l2, ".2e"), (e.verdict or "-") + (f": {e.verdict_reason}" if e.verdict_reason else ""),
             str(e.result_id) if e.result_id else "-")
            for e in s.entries]
    done = sum(e.status != "failed" for e in s.entries)
    return Table(f"Sweep {s.name}: {done}/{len(s.entries)} configurations", ("subject", "backend", "precision", "batch",
                 "target", "device", "status", "p50 ms", "p99 ms", "rel L2 error", "verdict", "result"), rows,
                 f"store: {s.store}")


def sweep_cells(s):
    """The PASS/FAIL matrix as data: configurations (rows), devices (columns) and the entry of each cell."""
    device = lambda e: e.device or e.measured_on or "-"  # noqa: E731
    devices = sorted({device(e) for e in s.entries})
    configs = list(dict.fromkeys((e.subject, e.backend, e.precision, e.batch) for e in s.entries))
    cells = {((e.subject, e.backend, e.precision, e.batch), device(e)): e for e in s.entries}
    return configs, devices, cells


def sweep_cell(e) -> str:
    return e.verdict or ("ran" if e.status != "failed" else "FAILED")


def sweep_matrix(s) -> Table:
    """PASS/FAIL per configuration (rows) and device (columns): the qualification verdict, else whether it ran."""
    configs, devices, cells = sweep_cells(s)
    rows = [(f"{c[0]} {c[1]} {c[2]} b{c[3]}", *(sweep_cell(cells[(c, d)]) if (c, d) in cells else "-" for d in devices))
            for c in configs]
    return Table("Verdict per configuration and device", ("configuration", *devices), rows,
                 "PASS/FAIL/INCONCLUSIVE: against the sweep's spec (the table below says why); ran: measured, no spec; "
                 "FAILED: did not run")


def selfcheck_table(c) -> Table:
    """`doctor`: each measured ceiling beside the datasheet's."""
    rows = [(k.name, f"{k.measured:.4g} {k.unit}", f"{k.reference:.4g} {k.unit}" if k.reference else "no datasheet",
             f"{k.measured / k.reference:.0%}" if k.reference else "-",
             "-" if k.at_spec is None else "yes" if k.at_spec else "NO", k.method) for k in c.checks]
    state = "" if c.power_mode is None else f", power mode {c.power_mode}, clocks {'locked' if c.clocks_locked else 'not locked'}"
    verdict = "at spec" if c.at_spec else "NOT AT SPEC" if c.at_spec is False else "measured (no datasheet to judge by)"
    return Table(f"Self-check of {c.device} against {c.target}{state}: {verdict}",
                 ("check", "measured", "datasheet", "ratio", "at spec", "how"), rows, " ".join(c.notes))


def self_test_table(result) -> Table:
    """selftest.py's checks; the versions go in the caption, for the bug report it may end up in."""
    rows = [(c.name, "PASS" if c.ok else "FAIL", c.detail) for c in result.checks]
    caption = " | ".join(f"{k}: {v}" for k, v in result.versions)
    return Table(f"{result.backend} self-test: {'PASS' if result.ok else 'FAIL'}", ("check", "result", "detail"), rows, caption)


def _num(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.4g}"


SPEED_VERDICT = {"regression": "slower than FP32", "improvement": "faster than FP32", "within noise": "the same",
                 "inconclusive": "cannot tell yet", "unknown": "too few blocks"}


def _speedup(change_pct: float) -> str:
    """FP32's time over this one's, from the change of the time in %: +inf % is 0x, -100 % unbounded."""
    if change_pct <= -100:
        return "inf"
    return f"{100 / (100 + change_pct):.2f}" if change_pct != float("inf") else "0.00"


def interleaved_table(comparisons: tuple[Comparison, ...]) -> Table:
    """profile --interleave: each precision against FP32 from alternating blocks, as a speed-up with its interval."""
    rows = []
    for c in comparisons:
        for r in c.runs:
            m = r.metrics[0]
            lo, hi = m.delta_ci_pct   # of the time; a speed-up is its inverse, so the ends swap
            rows.append((r.key[1], str(r.key[3]).split(" vs ")[-1], r.key[0], f"{fmt_ms(m.a_ms)} -> {fmt_ms(m.b_ms)}",
                         f"{_speedup(m.delta_pct)}x [{_speedup(hi)}, {_speedup(lo)}]",
                         SPEED_VERDICT.get(m.verdict, m.verdict), str(m.runs_a)))
    return Table(f"Speed against FP32, interleaved (alternating blocks in one window: load hits both alike; "
                 f"'the same': within +-{comparisons[0].noise_pct if comparisons else 2:g}%)",
                 ("backend", "precision", "stage", "fp32 -> it, ms (median block)", "speed-up [95% CI]", "verdict",
                  "pairs of blocks"), rows)


def tables(report: ProfileReport, records: bool = True) -> list[Table]:
    """The non-empty tables of a report, in the order every format shows them (after the summary and warnings);
    records=False leaves out the provenance and environment records (the terminal's shorter view)."""
    runs = report.runs
    all_tables = [runs_table(runs), stage_table(runs), control_table(runs), telemetry_table(runs), transfers_table(runs),
                  witness_table(runs), layers_table(runs), *breakdown_tables(runs, report.settings.layer_depth if report.settings else 0),
                  training_table(report.training),
                  flops_table(report.flops, report.policy_step_flops, report.model.calls_per_step),
                  *roofline_tables(report.roofline), interleaved_table(report.interleaved), accuracy_table(accuracies(runs)),
                  *(t for d in report.precision_debug for t in precision_debug_tables(d)),
                  *((provenance_table(report), environment_table(report)) if records else ())]
    return [t for t in all_tables if t.rows]
