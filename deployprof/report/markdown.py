"""report.md: the same tables as the terminal, as GitHub-flavoured Markdown for pull requests and wikis."""
from __future__ import annotations

from ..results import ProfileReport
from .sections import tables
from .summary import COLUMNS, headline, main_target, summary_rows


def _cell(v: str) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: ProfileReport) -> str:
    out = [f"# deployprof: {report.model.preset or report.model.source}", "",
           f"*{report.created_utc}, deployprof {report.environment.deployprof_version}, schema {report.schema_version}*", "",
           f"**{headline(report)}**", ""]
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if report.runs:
        out += [f"## Summary: {main_target(report)}", "", md_table(COLUMNS, summary_rows(report)), ""]
    for title, header, rows in tables(report):
        out += [f"## {title}", "", md_table(header, rows), ""]
    return "\n".join(out)
