"""sweep.html: per device, latency against accuracy error with the Pareto front; the PASS/FAIL matrix; every
configuration's row. Same frame and page check as report.html."""
from __future__ import annotations

from collections import defaultdict
from html import escape

from ..results import SweepReport
from . import svg
from .html import page, table_html
from .sections import sweep_cell, sweep_cells, sweep_matrix, sweep_table


def run_folder(e) -> str:
    """Where a configuration's run lies under the sweep's --out: runs/KEY, or DEVICE/runs/KEY for a fleet (--ray)."""
    return (f"{e.device}/" if e.device else "") + f"runs/{e.key}"


def _linked_matrix(report: SweepReport) -> str:
    """The verdict matrix, each cell a link to its configuration's own report."""
    configs, devices, cells = sweep_cells(report)
    t = sweep_matrix(report)
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    rows = []
    for c, row in zip(configs, t.rows):
        out = [f"<td>{escape(row[0])}</td>"]
        for d in devices:
            e = cells.get((c, d))
            text = escape(sweep_cell(e)) if e else "-"
            out.append(f"<td><a href='{escape(run_folder(e))}/report.html'>{text}</a></td>" if e and e.status != "failed"
                       else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return (f"<h2>{escape(t.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class='meta'>{escape(t.caption)}</p>")


def render_sweep_html(report: SweepReport) -> str:
    by_device = defaultdict(list)
    for e in report.entries:
        if e.p50_ms is not None and e.accuracy_rel_l2 is not None:
            by_device[e.device or e.measured_on or "this machine"].append(
                (f"{e.subject.rsplit('/', 1)[-1]} {e.backend} {e.precision} b{e.batch}", e.p50_ms, e.accuracy_rel_l2))
    body = []
    if by_device:
        body += ["<h2>Latency against accuracy (lower left is better; the dashed line is the Pareto front)</h2>",
                 "<div class='grid'>"]
        body += [svg.scatter(f"{device}: policy step p50 vs action error", pts, "p50 latency (ms)",
                             "relative L2 error vs the reference", frontier=True) for device, pts in by_device.items()]
        body.append("</div>")
    else:
        body.append("<p class='warn'>No configuration has both a latency and an accuracy: nothing to plot.</p>")
    body += [_linked_matrix(report), table_html(sweep_table(report))]
    failed = sum(e.status == "failed" for e in report.entries)
    return page(f"deployprof sweep: {report.name}",
                f"{report.created_utc} · {len(report.entries)} configurations, {failed} failed · {report.store}", body)
