"""report.md: the report's tables (report/sections.py) as GitHub-flavoured Markdown for pull requests and wikis."""
from __future__ import annotations

from ..results import SCHEMA_VERSION, ProfileReport
from .sections import Table, summary_table, tables
from .summary import headline


def _cell(v: str) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(t: Table) -> str:
    lines = [f"## {t.title}", "", "| " + " | ".join(_cell(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines + (["", f"*{t.caption}*"] if t.caption else []) + [""])


def render_markdown(report: ProfileReport) -> str:
    out = [f"# deployprof: {report.model.preset or report.model.source}", "",
           f"*{report.created_utc}, deployprof {report.environment.deployprof_version}, schema {SCHEMA_VERSION}*", "",
           f"**{headline(report)}**", ""]
    if report.findings:
        out += ["## Findings", ""] + [f"- {f}" for f in report.findings] + [""]
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if report.runs:
        out.append(md_table(summary_table(report)))
    out += [md_table(t) for t in tables(report)]
    return "\n".join(out)
