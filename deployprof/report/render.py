"""Write every format next to report.json, each atomically (a crash never leaves half a report)."""
from __future__ import annotations

from pathlib import Path

from ..files import write_text_atomic
from ..results import PrecisionDebugReport, ProfileReport
from .markdown import render_markdown
from .sections import precision_debug_tables


def render_all(report: ProfileReport, out_dir: Path) -> dict[str, Path]:
    from .html import render_html

    out_dir = Path(out_dir)
    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html"}
    write_text_atomic(paths["md"], render_markdown(report))
    write_text_atomic(paths["html"], render_html(report))
    return paths


def render_precision_debug(report: PrecisionDebugReport, out_dir: Path) -> Path:
    """precision-debug.html beside precision-debug.json: the latency-vs-error plot and the tables."""
    from .html import page, precision_debug_plot, table_html

    plot = precision_debug_plot(report)
    body = (["<div class='grid'>", plot, "</div>"] if plot else []) + [table_html(t) for t in precision_debug_tables(report)]
    path = Path(out_dir) / "precision-debug.html"
    write_text_atomic(path, page(f"deployprof precision-debug: {report.subject}", f"{report.precision} on {report.backend}",
                                 body))
    return path
