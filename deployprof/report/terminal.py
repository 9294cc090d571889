"""Rich terminal tables for flops, bench and profile results."""
from __future__ import annotations

from typing import Iterable, Optional

from rich.console import Console
from rich.table import Table

from ..results import FlopReport, ProfileReport, RunResult, to_dict
from . import sections
from .summary import COLUMNS, fmt_bytes, fmt_count, fmt_ms, headline, main_target, summary_rows


_ms = fmt_ms


def summary_table(report: ProfileReport) -> Table:
    t = Table(title=f"Summary: {main_target(report)} (nearest-rank percentiles, distribution-free 95% CI)", title_justify="left")
    for col in COLUMNS:
        t.add_column(col, justify="left" if col in ("backend", "precision", "accuracy vs FP32") else "right")
    for row in summary_rows(report):
        t.add_row(*row)
    return t


def runs_table(runs: Iterable[RunResult], title: str = "Latency (ms, nearest-rank; [95% CI])") -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("target", "backend", "prec", "batch", "p50", "p90", "p99", "mean±std", "n", "thru/s",
                "speed-up", "peak RSS", "device mem", "GFLOPs", "GFLOP/s"):
        t.add_column(col, justify="left" if col in ("target", "backend", "prec") else "right")
    for r in runs:
        lat = r.latency
        p99 = f"{_ms(lat.p99_ms)} [{_ms(lat.ci_ms['p99'][0])}, {_ms(lat.ci_ms['p99'][1])}]"
        if "p99" in lat.too_few_samples:
            p99 += " (few)"
        t.add_row(
            r.target, r.backend + (" FALLBACK" if r.build.fallback else ""),
            r.precision + (" (speed only)" if r.build.speed_only else ""), str(r.batch),
            f"{_ms(lat.p50_ms)} [{_ms(lat.ci_ms['p50'][0])}, {_ms(lat.ci_ms['p50'][1])}]",
            _ms(lat.p90_ms), p99, f"{_ms(lat.mean_ms)}±{_ms(lat.std_ms)}", str(lat.count),
            f"{r.throughput_per_s:.1f}", f"{r.speedup_vs_fp32:.2f}x" if r.speedup_vs_fp32 else "-",
            fmt_bytes(r.memory.host_peak_rss_bytes), fmt_bytes(r.memory.device_peak_bytes),
            f"{r.flops_per_run / 1e9:.4f}" if r.flops_per_run else "-",
            f"{r.achieved_gflop_per_s:.2f}" if r.achieved_gflop_per_s else "-")
    return t


def flops_table(reports: dict[str, FlopReport], step_flops: Optional[int] = None, calls: Optional[dict] = None) -> Table:
    t = Table(title="Static cost (dense FLOPs = 2 x MACs; total adds bias/elementwise/norm/softmax)", title_justify="left")
    for col in ("graph", "calls/step", "MACs", "FLOPs", "FLOPs total", "params", "weights", "peak act.", "AI (FLOP/B)", "exact"):
        t.add_column(col, justify="left" if col == "graph" else "right")
    for name, f in reports.items():
        t.add_row(name, str((calls or {}).get(name, 1)), fmt_count(f.macs), fmt_count(f.flops), fmt_count(f.flops_total),
                  fmt_count(f.params), fmt_bytes(f.weight_bytes), fmt_bytes(f.peak_activation_bytes),
                  f"{f.arithmetic_intensity:.2f}" if f.arithmetic_intensity else "-",
                  "lower bound" if f.lower_bound else "yes")
    if step_flops is not None:
        t.add_row("policy step", "", "", "", fmt_count(step_flops), "", "", "", "", "")
    return t


# The terminal shows the shared tables, except where it has a fuller view of its own (control loop, roofline).
TERMINAL_TABLES = (sections.runs_table, sections.stage_table, sections.telemetry_table, sections.transfers_table,
                   sections.layers_table, sections.training_table, sections.accuracy_table)


def rich_table(title: str, header, rows) -> Table:
    t = Table(title=title, title_justify="left")
    for col in header:
        t.add_column(col)
    for row in rows:
        t.add_row(*row)
    return t


def print_profile(report: ProfileReport, console: Optional[Console] = None) -> None:
    console = console or Console()
    if report.flops:
        console.print(flops_table(report.flops, report.policy_step_flops, report.model.calls_per_step))
    for title, header, rows in sections.tables(report, TERMINAL_TABLES):
        console.print(rich_table(title, header, rows))
    if report.runs:
        console.print(summary_table(report))
    for r in report.runs:
        if r.control:
            print_control(r, console)
    for p in report.roofline:
        console.print(roofline_table(p))
    if report.warnings:
        console.print(f"[bold yellow]Warnings ({len(report.warnings)})[/bold yellow]")
        for w in report.warnings:
            console.print(f"  [yellow]![/yellow] {w}")
    console.print(f"[bold]{headline(report)}[/bold]")


def op_table(by_op: dict, n: int = 12) -> Table:
    from ..flops.summary import top_ops

    t = Table(title=f"Top {n} op types by FLOPs total", title_justify="left")
    for col in ("op", "count", "MACs", "FLOPs total"):
        t.add_column(col, justify="left" if col == "op" else "right")
    for op, c in top_ops(by_op, n):
        t.add_row(op, str(c["count"]), fmt_count(c["macs"]), fmt_count(c["flops_total"]))
    return t


def _bench_one(r: RunResult) -> dict:
    lat = r.latency
    return {
        "target": r.target, "backend": r.backend, "precision": r.precision, "batch": r.batch,
        "latency_ms": {k: getattr(lat, f"{k}_ms") for k in ("min", "mean", "std", "p50", "p90", "p95", "p99", "p999", "max")},
        "latency_ci_ms": lat.ci_ms, "percentile_method": lat.percentile_method, "too_few_samples": list(lat.too_few_samples),
        "noisy": lat.noisy, "samples": lat.count, "throughput_per_s": r.throughput_per_s,
        "cold_start_ms": {"load": r.cold_start.load_ms, "first_run": r.cold_start.first_run_ms},
        "memory": to_dict(r.memory),
        "providers_active": list(r.build.providers_active), "fallback": r.build.fallback,
        "device_latency_ms": ({k: getattr(r.device_latency, f"{k}_ms") for k in ("p50", "p90", "p99", "mean")}
                              if r.device_latency else None),
        "stage_mean_ms": r.stage_mean_ms or None, "glue_overhead_ms": r.glue_overhead_ms,
        "concurrency": r.concurrency, "control": to_dict(r.control) if r.control else None,
    }


def bench_json(runs: list[RunResult]) -> dict:
    """The policy step when there is one, else the single stage, at top level; every run under `runs`."""
    main = next((r for r in runs if r.target == "policy_step"), runs[-1])
    return {**_bench_one(main), "runs": [_bench_one(r) for r in runs]}


def print_control(r: RunResult, console: Console) -> None:
    c = r.control
    rate = f"; sustains {c.effective_action_rate_per_s:.0f} actions/s (chunk {c.chunk_length})" if c.effective_action_rate_per_s else ""
    console.print(f"{r.backend} {r.target} at {c.rate_hz:g} Hz: {c.deadline_misses}/{c.requests} deadline misses "
                  f"({c.deadline_miss_rate:.1%}), response p50 {_ms(c.response_p50_ms)} / p99 {_ms(c.response_p99_ms)} ms, "
                  f"start lag max {_ms(c.start_lag_max_ms)} ms, jitter {_ms(c.jitter_ms)} ms{rate}")
    for gap, vals in c.idle_gap_latency_ms.items():
        console.print(f"  after {gap} s idle: {', '.join(_ms(v) for v in vals)} ms (steady p50 {_ms(r.latency.p50_ms)})")


def node_table(name: str, report: FlopReport, n: int = 30) -> Table:
    t = Table(title=f"{name}: top {n} nodes by FLOPs total (of {len(report.nodes)})", title_justify="left")
    for col in ("node", "op", "output shape", "MACs", "FLOPs total", "bytes", "FLOP/B"):
        t.add_column(col, justify="left" if col in ("node", "op", "output shape") else "right")
    for c in sorted(report.nodes, key=lambda c: -c.flops_total)[:n]:
        out = "x".join(map(str, c.output_shapes[0])) if c.output_shapes and c.output_shapes[0] is not None else "?"
        t.add_row(c.name, c.op_type, out, fmt_count(c.macs), fmt_count(c.flops_total), fmt_bytes(c.bytes),
                  f"{c.arithmetic_intensity:.2f}" if c.arithmetic_intensity else "-")
    return t


def accuracy_table(results) -> Table:
    t = Table(title="Accuracy against FP32 (same inputs and noise; action space)", title_justify="left")
    for col in ("precision", "samples", "max |err|", "mean |err|", "rel L2", "cosine mean", "cosine min",
                "worst action dim", "token agreement", "verdict"):
        t.add_column(col, justify="left" if col == "precision" else "right")
    for a in results:
        dims = a.per_action_dim_mean_abs
        worst = f"{max(range(len(dims)), key=dims.__getitem__)} ({max(dims):.3g})" if dims else "-"
        verdict = "-" if a.passed is None else ("PASS" if a.passed else "FAIL")
        t.add_row(a.precision, str(a.samples), f"{a.action.max_abs:.4g}", f"{a.action.mean_abs:.4g}", f"{a.action.rel_l2:.4g}",
                  f"{a.action.cosine_mean:.6f}", f"{a.action.cosine_min:.6f}", worst,
                  f"{a.token_agreement:.1%}" if a.token_agreement is not None else "-", verdict)
    return t


def comparison_table(c) -> Table:
    t = Table(title="B against A (delta % with its conservative 95% CI; 'regression' only when the CIs are apart)",
              title_justify="left")
    for col in ("run", *(f"{m.metric} A -> B ms" for m in (c.runs[0].metrics if c.runs else ())), "verdicts", "throughput", "peak RSS"):
        t.add_column(col, justify="left" if col in ("run", "verdicts") else "right")
    colors = {"regression": "red", "improvement": "green", "within noise": "dim"}
    for r in c.runs:
        cells = [f"{_ms(m.a_ms)} -> {_ms(m.b_ms)} ({m.delta_pct:+.1f}% [{m.delta_ci_pct[0]:+.1f}, {m.delta_ci_pct[1]:+.1f}])"
                 for m in r.metrics]
        verdicts = ", ".join(f"[{colors[m.verdict]}]{m.metric} {m.verdict}[/{colors[m.verdict]}]" for m in r.metrics)
        t.add_row(" ".join(str(k) for k in r.key), *cells, verdicts, f"{r.throughput_pct:+.1f}%",
                  f"{r.peak_rss_pct:+.1f}%" if r.peak_rss_pct is not None else "-")
    return t


def qualification_tables(q, console: Console) -> None:
    colors = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow"}
    for c in q.configs:
        t = Table(title=f"{c.backend} / {c.precision} / batch {c.batch}: [{colors[c.status]}]{c.status}[/{colors[c.status]}]",
                  title_justify="left")
        for col in ("criterion", "limit", "value", "95% CI", "margin", "verdict", "note"):
            t.add_column(col, justify="left" if col in ("criterion", "verdict", "note") else "right")
        for k in c.criteria:
            unit = f" {k.unit}" if k.unit and k.unit != "fraction" else ""
            ci = "-" if k.ci is None else f"[{_num(k.ci[0])}, {_num(k.ci[1])}]"
            t.add_row(k.name, f"{_num(k.limit)}{unit}", "-" if k.value is None else f"{_num(k.value)}{unit}", ci,
                      "-" if k.margin is None else f"{k.margin:+.4g}{unit}",
                      f"[{colors[k.status]}]{k.status}[/{colors[k.status]}]", k.detail)
        console.print(t)
    for n in q.notes:
        console.print(f"note: {n}")
    where = f" on {q.target}" if q.target else ""
    console.print(f"[bold {colors[q.status]}]{q.status}[/bold {colors[q.status]}] ({q.basis}{where}; spec {q.spec})")


def _num(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.4g}"


def roofline_table(p) -> Table:
    mode = f"@{p.power_mode}" if p.power_mode else ""
    t = Table(title=f"Roofline floor on {p.target}{mode}, {p.precision} (peak {p.peak_tflops:g} TFLOPS, "
                    f"{p.memory_bandwidth_gbs:g} GB/s), batch {p.batch}", title_justify="left")
    for col in ("stage", "calls", "GFLOPs/call", "min MB/call", "compute ms", "memory ms", "floor ms/call", "bound",
                "measured p50", "efficiency"):
        t.add_column(col, justify="left" if col in ("stage", "bound") else "right")
    for s in p.stages:
        t.add_row(s.stage, str(s.calls_per_step), f"{s.flops / 1e9:.3f}", f"{s.min_bytes / 1e6:.1f}", f"{s.compute_ms:.4f}",
                  f"{s.memory_ms:.4f}", f"{s.lower_bound_ms:.4f}", s.bound,
                  _ms(s.measured_p50_ms) if s.measured_p50_ms else "-", f"{s.efficiency:.1%}" if s.efficiency else "-")
    m = p.memory
    measured = f"; measured {_ms(p.measured_step_p50_ms)} ms ({p.step_efficiency:.1%} of the roofline)" if p.measured_step_p50_ms else ""
    t.caption = (f"policy step floor {p.step_lower_bound_ms:.3f} ms{measured}. Memory: weights {fmt_bytes(m.weights_bytes)} + "
                 f"KV {fmt_bytes(m.kv_cache_bytes)} + activations {fmt_bytes(m.peak_activation_bytes)} = "
                 f"{fmt_bytes(m.total_bytes)}, {m.fraction_of_device:.1%} of {fmt_bytes(m.device_bytes)}"
                 + (" (unified with the OS and the robot stack)" if m.unified_memory else ""))
    if p.assumed_dims:
        from ..flops.summary import assumed_note
        t.caption += f". Note: {assumed_note(p.assumed_dims)}"
    return t
