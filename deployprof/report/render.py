"""Write every format next to report.json, each atomically (a crash never leaves half a report)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DeployprofError
from ..files import write_text_atomic
from ..results import PrecisionDebugReport, ProfileReport
from .markdown import render_markdown
from .sections import precision_debug_tables
from .html import page, precision_debug_plot, render_html, table_html


def render_all(report: ProfileReport, out_dir: Path) -> list[str]:
    """report.md and report.html from a report whose report.json is already written; a view that fails is a
    warning returned (the measurements are in report.json and the other view still appears)."""
    problems = []
    for name, render in (("report.md", render_markdown), ("report.html", render_html)):
        try:
            write_text_atomic(Path(out_dir) / name, render(report))
        except (OSError, DeployprofError):
            raise
        except Exception as exc:
            problems.append(f"{name} not written ({type(exc).__name__}: {str(exc)[:200]}); report.json holds every "
                            "measurement, and the other views were written")
    return problems


def render_precision_debug(report: PrecisionDebugReport, out_dir: Path) -> Path:
    """precision-debug.html beside precision-debug.json: the latency-vs-error plot and the tables."""
    plot = precision_debug_plot(report)
    body = (["<div class='grid'>", plot, "</div>"] if plot else []) + [table_html(t) for t in precision_debug_tables(report)]
    path = Path(out_dir) / "precision-debug.html"
    write_text_atomic(path, page(f"deployprof precision-debug: {report.subject}", f"{report.precision} on {report.backend}",
                                 body))
    return path
