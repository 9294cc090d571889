"""Write every format next to report.json, each atomically (a crash never leaves half a report)."""
from __future__ import annotations

from pathlib import Path

from ..files import write_text_atomic
from ..results import ProfileReport
from .markdown import render_markdown


def render_all(report: ProfileReport, out_dir: Path) -> dict[str, Path]:
    from .html import render_html

    out_dir = Path(out_dir)
    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html"}
    write_text_atomic(paths["md"], render_markdown(report))
    write_text_atomic(paths["html"], render_html(report))
    return paths
