"""report.md: the report's tables (report/sections.py) as GitHub-flavoured Markdown for pull requests and wikis."""
from __future__ import annotations

import re

from ..results import SCHEMA_VERSION, ProfileReport
from .sections import Table, summary_table, tables
from .summary import headline


_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # what would open raw HTML


def text(v) -> str:
    """Text from a report (names, warnings: anyone's strings) as Markdown that stays text: no raw HTML tag, no link
    or image (`](` broken), no cell border; everything else as written, so the tables read as in the terminal."""
    return _TAG.sub("&lt;", str(v)).replace("](", "]\\(").replace("|", "\\|").replace("\n", " ")


def md_table(t: Table) -> str:
    lines = [f"## {text(t.title)}", "", "| " + " | ".join(text(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines + (["", f"*{text(t.caption)}*"] if t.caption else []) + [""])


def render_markdown(report: ProfileReport) -> str:
    out = [f"# deployprof: {text(report.model.preset or report.model.source)}", "",
           f"*{text(report.created_utc)}, deployprof {text(report.environment.deployprof_version)}, schema {SCHEMA_VERSION}*",
           "", f"**{text(headline(report))}**", ""]
    if report.findings:
        out += ["## Findings", ""] + [f"- {text(f)}" for f in report.findings] + [""]
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {text(w)}" for w in report.warnings] + [""]
    if report.runs:
        out.append(md_table(summary_table(report)))
    out += [md_table(t) for t in tables(report)]
    return "\n".join(out)
