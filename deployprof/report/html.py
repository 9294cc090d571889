"""report.html: one self-contained file (inline CSS and SVG, a few lines of script that only check the page),
readable offline and attachable to a qualification record."""
from __future__ import annotations

from html import escape
import numpy as np

from ..results import (SCHEMA_VERSION, Breakdown, ComponentTime, PrecisionDebugReport, ProfileReport, main_runs,
                       main_stage)
from ..graph.scopes import module_at
from . import svg
from .sections import Table, op_type_flops, summary_table, tables
from .summary import accuracies, headline

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1680px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0} h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.headline{font-size:16px;background:#eef5ff;border-left:4px solid #1f77b4;padding:8px 12px}
.warn{background:#fff6e5;border-left:4px solid #e69500;padding:6px 12px} .warn li{margin:2px 0}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top;white-space:nowrap} th{background:#f0f0f0}
td.w{white-space:normal;min-width:260px;text-align:left} .scroll{overflow-x:auto;max-width:100%}
td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px} .plot{background:#fff;border:1px solid #e4e4e4}
.plot .t{font-size:13px;font-weight:600} .plot .l{font-size:11px;fill:#444} .plot .k{font-size:10px;fill:#333}
.plot .a{stroke:#444} .plot .g{stroke:#eee}
.meta{color:#666;font-size:12px}
"""

# Only checks the page (errors and that every plot has a size): the report itself needs no script.
CHECK = """
window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message))});
window.addEventListener('load',function(){var n=0,p=document.querySelectorAll('svg.plot');
for(var i=0;i<p.length;i++){var r=p[i].getBoundingClientRect();if(r.width>0&&r.height>0&&p[i].childElementCount>4)n++;}
document.body.setAttribute('data-plots',String(p.length));document.body.setAttribute('data-plots-rendered',String(n));
document.body.setAttribute('data-errors',String(window.__errors.length));});
"""


WRAP_AT = 60  # characters: a longer cell is prose and may wrap


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in t.header)
    # Cells keep to one line (a summary once wrapped its numbers at 1400 px; a wide table scrolls instead); long
    # text (notes, provenance) wraps in a column of its own width.
    body = "".join("<tr>" + "".join(f"<td class='w'>{escape(str(c))}</td>" if len(str(c)) > WRAP_AT else
                                    f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in t.rows)
    caption = f"<p class='meta'>{escape(t.caption)}</p>" if t.caption else ""
    return (f"<h2>{escape(t.title)}</h2><div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>" + caption)


def _label(r) -> str:
    return f"{r.backend}/{r.precision} b{r.batch}"


CDF_POINTS = 1_000


def latency_plots(report: ProfileReport) -> list[str]:
    runs = main_runs(report.runs)
    if not runs:
        return []
    # The x axis stops at the largest p99.9 so that a few outliers do not squash every curve; the tables keep them.
    limit = max(r.latency.p999_ms for r in runs)
    cdf, hist = [], []
    for r in runs:
        xs = np.sort(np.asarray(r.latency.samples_ms))
        ys = np.arange(1, len(xs) + 1) / len(xs)
        if len(xs) > CDF_POINTS:  # a drawn curve needs no more points than a screen has pixels
            pick = np.linspace(0, len(xs) - 1, CDF_POINTS).round().astype(int)
            xs, ys = xs[pick], ys[pick]
        keep = xs <= limit
        cdf.append((_label(r), xs[keep].tolist(), ys[keep].tolist()))
        hist.append((_label(r), xs[keep].tolist()))
    what = main_stage(report.runs)
    # backends 10x apart (1.6 ms beside 700 ms): log axes, or the fast one is a vertical line at zero
    log = svg.spans_decades([r.latency.p50_ms for r in runs], decades=1.0)
    axis = "latency (ms)" + (" (log)" if log else "")
    out = [svg.line_chart(f"Latency CDF: {what} (to p99.9)", cdf, axis, "fraction of requests", step=True, logx=log),
           svg.histogram(f"Latency histogram: {what} (to p99.9)", hist, axis, logx=log)]
    return [o for o in out if o]


def stage_plot(report: ProfileReport) -> list[str]:
    runs = [r for r in report.runs if r.stage_mean_ms]
    if not runs:
        return []
    stages = list(runs[0].stage_mean_ms)
    stacks = [(s, [r.stage_mean_ms.get(s, 0.0) for r in runs]) for s in stages]
    stacks.append(("host glue", [max(r.glue_overhead_ms or 0.0, 0.0) for r in runs]))
    return [svg.bar_chart("Policy step: mean ms per stage", [_label(r) for r in runs], stacks, "ms")]


def flops_plots(report: ProfileReport) -> list[str]:
    if not report.flops:
        return []
    calls = report.model.calls_per_step
    names = list(report.flops)
    per_step = [report.flops[n].flops_total * calls.get(n, 1) for n in names]
    ops = list(op_type_flops(report).items())[:12]
    div, unit = svg.flop_unit(per_step)
    out = [svg.bar_chart(f"{unit} per policy step, by stage (x calls per step)", [f"{n} x{calls.get(n, 1)}" for n in names],
                         [(unit, [v / div for v in per_step])], unit)]
    if ops:
        div, unit = svg.flop_unit([v for _, v in ops])
        out.append(svg.bar_chart(f"{unit} per policy step, by op type (top 12)", [o for o, _ in ops],
                                 [(unit, [v / div for _, v in ops])], unit))
    return out


def accuracy_plots(report: ProfileReport) -> list[str]:
    """Errors per action dimension, along the chunk and over the denoising loop; a log axis where the
    configurations' errors span decades (FP16's would lie flat on zero beside INT8's)."""
    acc = [(f"{a.backend}/{a.precision} b{a.batch}", a) for a in accuracies(report.runs)
           if a.action.max_abs > 0]  # a configuration identical to the reference has nothing to plot
    out = []
    for title, field, x_label, first in (("Action error vs the reference, per action dimension", "per_action_dim_mean_abs",
                                          "action dimension", 0),
                                         ("Action error along the chunk", "per_chunk_step_mean_abs", "chunk step", 0),
                                         ("Error of the denoised state after each step", "per_denoise_step_mean_abs",
                                          "denoising step", 1)):
        series = [(k, list(range(first, first + len(v))), list(v)) for k, a in acc
                  if len(v := getattr(a, field)) > (1 if field == "per_chunk_step_mean_abs" else 0)]
        if series:
            log = svg.spans_decades([y for _, _, ys in series for y in ys])
            out.append(svg.line_chart(title, series, x_label, "mean |error|" + (" (log)" if log else ""), markers=True,
                                      logy=log))
    return out


def roofline_plots(report: ProfileReport) -> list[str]:
    out = []
    for p in report.roofline:
        points = [(f"{s.stage} ({p.precision})", s.flops / s.min_bytes, s.flops / (s.measured_p50_ms * 1e6))
                  for s in p.stages if s.measured_p50_ms and s.min_bytes]
        mode = f"@{p.power_mode}" if p.power_mode else ""
        chart = svg.roofline(f"Roofline: {p.target}{mode}, {p.precision} (stages measured on {p.measured_on})",
                             p.peak_tflops * 1e3,
                             p.memory_bandwidth_gbs, points)
        if chart:
            out.append(chart)
    return out


def _hover(c: ComponentTime) -> str:
    rates = (f"{c.achieved_gflop_per_s:.3g} GFLOP/s, {c.achieved_gb_per_s:.3g} GB/s"
             if c.achieved_gflop_per_s is not None and c.achieved_gb_per_s is not None else "no static cost")
    roof = f", {c.floor_ms / c.mean_ms:.1%} of its roofline" if c.floor_ms is not None and c.mean_ms > 0 else ""
    work = (f"{c.flops / 1e6:.4g} MFLOP, {c.bytes / 1e6:.4g} MB; " if c.flops is not None and c.bytes is not None else "")
    return f"{c.name}: {c.mean_ms:.4f} ms ({c.share:.1%}), {c.nodes} nodes; {work}{rates}; {c.bound}-bound{roof}"


ICICLE_DEPTH = 24   # rows drawn: a scope path thousands deep (a generated graph) is cut here, said in the title


def icicle_cells(b: Breakdown) -> tuple[list, int]:
    """Lay the module tree out by time: children (slowest first) inside their parent's span, from the nodes' paths.
    Iterative and cut at ICICLE_DEPTH rows; a path naming a module the breakdown does not list (a tampered or
    foreign report) is drawn only as deep as its listed modules go."""
    info = {(c.name, c.depth): c for c in b.modules}
    children: dict[tuple, list] = {}
    for n in b.nodes:
        path = n.module_path or (module_at((), 1, n.op_type),)
        for d in range(min(len(path), ICICLE_DEPTH)):
            if (path[d], d + 1) not in info:
                break
            kids = children.setdefault(path[:d], [])
            if path[d] not in kids:
                kids.append(path[d])
    total = b.attributed_ms if b.attributed_ms and b.attributed_ms > 0 else None
    total = total or sum(c.mean_ms for c in b.modules if c.depth == 1) or 1.0
    cells, deepest = [], 1
    todo = [((), 0.0)]
    while todo:
        prefix, start = todo.pop()
        for m in sorted(children.get(prefix, []), key=lambda m: -info[(m, len(prefix) + 1)].mean_ms):
            c = info[(m, len(prefix) + 1)]
            width = max(c.mean_ms, 0.0) / total
            cells.append((m, len(prefix) + 1, start, width, c.bound, _hover(c)))
            deepest = max(deepest, len(prefix) + 1)
            todo.append((prefix + (m,), start))
            start += width
    return cells, deepest


def breakdown_plots(report: ProfileReport) -> list[str]:
    out = []
    for r in report.runs:
        if r.breakdown is not None:
            cells, depth = icicle_cells(r.breakdown)
            cut = f"; the first {ICICLE_DEPTH} levels" if depth >= ICICLE_DEPTH else ""
            out.append(svg.icicle(f"{r.backend}/{r.precision} b{r.batch}, {r.stage}: time per module "
                                  f"({r.breakdown.coverage:.0%} of the stage in nodes{cut})", cells, depth,
                                  r.breakdown.attributed_ms))
    return [o for o in out if o]


def precision_debug_plot(d: PrecisionDebugReport) -> str:
    """Latency against action error for fp32, the low precision, every configuration the search judged and the
    mixed result: the Pareto front says which are worth having."""
    final = d.final()
    points = [("fp32", d.fp32_step_ms, 0.0), (d.precision, d.step_ms(d.low), 1.0 - d.low.cosine_min)]
    points += [(f"{len(e.kept)} kept", d.step_ms(e), 1.0 - e.cosine_min) for e in d.search[1:] if e is not final]
    points += [(f"{s.stage}:{s.component} alone kept", d.step_ms(s.only_kept), 1.0 - s.only_kept.cosine_min)
               for s in d.components]
    if final is not None:
        points.append((f"{d.precision}-mixed", d.step_ms(final), 1.0 - final.cosine_min))
    return svg.scatter(f"{d.precision} on {d.backend}: policy step vs action error (search timings)", points,
                       "ms per policy step", "1 - min action cosine", frontier=True)


def precision_debug_plots(report: ProfileReport) -> list[str]:
    return [p for p in map(precision_debug_plot, report.precision_debug) if p]


def training_plots(report: ProfileReport) -> list[str]:
    if not report.training:
        return []
    curves = [(f"{t.preset} b{t.batch}", list(range(1, len(t.loss_curve) + 1)), list(t.loss_curve)) for t in report.training]
    targets = [(f"convergence target {t.converge_target:.3g}", t.converge_target) for t in report.training[:1]]
    out = [svg.line_chart("Training loss per step", curves, "step", "loss", hlines=targets),
           svg.histogram("Training step time (after warm-up)", [(f"{t.preset} b{t.batch}", t.step_time.samples_ms)
                                                                 for t in report.training], "ms per step")]
    return [o for o in out if o]


def page(title: str, meta: str, body: list[str]) -> str:
    """Every HTML page deployprof writes (report, history, sweep): one frame, one stylesheet, one page check."""
    return "\n".join([f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>",
                      f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style>",
                      f"<script>{CHECK}</script></head><body><main>", f"<h1>{escape(title)}</h1>",
                      f"<p class='meta'>{escape(meta)}</p>", *body, "</main></body></html>"])


def table_html(t: Table) -> str:
    return _table(t)


def render_html(report: ProfileReport) -> str:
    title = f"deployprof: {report.model.preset or report.model.source}"
    meta = (f"{report.created_utc} · deployprof {report.environment.deployprof_version} · "
            f"{report.environment.platform} · schema {SCHEMA_VERSION}")
    parts = [f"<p class='headline'>{escape(headline(report))}</p>"]
    if report.findings:
        parts.append("<div class='headline'><b>Findings</b><ul>" + "".join(f"<li>{escape(f)}</li>" for f in report.findings)
                     + "</ul></div>")
    if report.warnings:
        parts.append("<div class='warn'><b>Warnings</b><ul>" + "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
                     + "</ul></div>")
    if report.runs:
        parts.append(_table(summary_table(report)))
    sections = [("Latency distribution", latency_plots), ("Where a policy step's time goes", stage_plot),
                ("Static cost", flops_plots), ("Where each stage's time goes, by module (layer-time pass)", breakdown_plots), ("Roofline: measured against the target's floor", roofline_plots),
                ("Accuracy of each configuration", accuracy_plots),
                ("Mixed precision: latency against action error", precision_debug_plots), ("Training", training_plots)]
    for name, fn in sections:
        try:
            plots = fn(report)
        except Exception as exc:  # one view that cannot be drawn: said in its place, the others still appear
            plots = [f"<p class='warn'>{escape(name)} could not be drawn ({escape(type(exc).__name__)}: "
                     f"{escape(str(exc)[:200])}); report.json holds every figure.</p>"]
        if plots:
            parts += [f"<h2>{escape(name)}</h2>", "<div class='grid'>", *plots, "</div>"]
    parts += [_table(t) for t in tables(report)]
    return page(title, meta, parts)
