"""Write every format next to report.json, each atomically (a crash never leaves half a report)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..results import ProfileReport


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_all(report: ProfileReport, out_dir: Path) -> dict[str, Path]:
    from .html import render_html
    from .markdown import render_markdown

    out_dir = Path(out_dir)
    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html"}
    write_text_atomic(paths["md"], render_markdown(report))
    write_text_atomic(paths["html"], render_html(report))
    return paths
