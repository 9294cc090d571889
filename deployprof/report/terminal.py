"""The terminal: report/sections.py tables rendered with rich, plus what only a terminal shows (the listings of
`backends`, `models` and `targets`, colours, warnings on stderr)."""
from __future__ import annotations

import os
import re
import sys
from typing import Optional

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from ..results import AccuracyReport, BenchResult, Comparison, FlopSummary, Prediction, ProfileReport, Qualification
from . import sections
from .sections import Table, history_table, self_test_table, selfcheck_table, sweep_matrix, sweep_table
from .summary import accuracy_closing, bench_closing, headline, next_step, predict_closing, qualification_basis
from ..presets import list_presets
from ..targets import ARITHMETIC, list_targets, load_target_profile

STYLES = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow", "WARN": "yellow", "FALLBACK": "bold red",
          "THROTTLED": "bold red"}
_NUMERIC = re.compile(r"^[-+]?(\d|inf\b)")


PIPED_WIDTH = 200  # a log or a file has no width of its own: $COLUMNS, else this
QUIET = False      # -q/--quiet: tables, warnings and progress left out; the closing line (headline, verdict) stays


def console(width: Optional[int] = None) -> Console:
    """stdout at the terminal's own width (a 100-column SSH session to a Jetson gets 100 columns)."""
    if width is None and not sys.stdout.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and 20 <= int(columns) <= 10_000 else PIPED_WIDTH  # `abc`: ignored
    return Console(width=width)


def stderr_console() -> Console:
    return Console(stderr=True, quiet=QUIET)


def _cell(value: str) -> Text:
    word = value.split(" ")[0].split(":")[0] if value else ""
    return Text(value, style=STYLES.get(word, ""))


def _numeric(t: Table, i: int) -> bool:
    cells = [row[i] for row in t.rows if i < len(row) and row[i] not in ("", "-")]
    return bool(cells) and all(_NUMERIC.match(c) for c in cells)


def rich_table(t: Table) -> RichTable:
    """Numbers right-aligned (a column whose every cell starts like a number), text left; a cell too wide for its
    column folds onto the next line, never cut short."""
    out = RichTable(title=t.title, title_justify="left")   # the caption is printed below at the console's width
    for i, col in enumerate(t.header):
        cells = [row[i] for row in t.rows if i < len(row) and row[i] not in ("", "-")]
        # Names (stage, backend, precision) are never cut short; long numbers and notes fold instead.
        widest = max((len(c) for c in cells), default=0)
        numeric = _numeric(t, i)
        out.add_column(col, justify="right" if numeric else "left", overflow="fold",
                       min_width=widest if not numeric and widest <= 24 else None)
    for row in t.rows:
        out.add_row(*(_cell(c) for c in row))
    return out


def fit(t: Table, width: int) -> list[Table]:
    """A table wider than the terminal, as several tables of its columns, each repeating the row's name: its leading
    text columns, passing over a rank between them (stage, backend, precision; stage, module), at most three and two
    thirds of the width (once the precision and the module were dropped, leaving rows that looked the same). Every
    column shown in full, none dropped."""
    n = len(t.header)
    natural = [min(max([len(t.header[i])] + [len(r[i]) for r in t.rows if i < len(r)]), width // 2) + 3 for i in range(n)]
    if sum(natural) + 1 <= width or n <= 2:
        return [t]
    keys, i = [0], 1
    while i < n - 1 and len(keys) < 3:
        if t.header[i] != "rank":   # an ordinal among the names is not part of them
            if _numeric(t, i) or sum(natural[k] for k in keys) + natural[i] > 2 * width // 3:
                break
            keys.append(i)
        i += 1
    groups: list[list[int]] = [[]]
    base = sum(natural[k] for k in keys) + 1
    used = base
    for i in (i for i in range(n) if i not in keys):
        if groups[-1] and used + natural[i] > width:
            groups.append([])
            used = base
        groups[-1].append(i)
        used += natural[i]
    if len(groups) == 1:
        return [t]
    return [Table(t.title if k == 0 else f"{t.title} (continued, {k + 1}/{len(groups)})",
                  tuple(t.header[i] for i in (*keys, *g)),
                  [tuple(r[i] if i < len(r) else "" for i in (*keys, *g)) for r in t.rows],
                  t.caption if k == len(groups) - 1 else "") for k, g in enumerate(groups)]

def show(tables: list[Table], out: Console) -> None:
    if QUIET:
        return
    for t in tables:
        for part in fit(t, out.width):
            out.print(rich_table(part))
            if part.caption:   # prose under a narrow table once wrapped at the table's 39 columns
                out.print(Text(part.caption, style="dim"))


def whole_line(out: Console, text: str, style: str = "bold") -> None:
    """A closing line (it stays under -q) or a note with a command in it: wrapped at word boundaries on a terminal,
    never broken into lines in a log or a pipe, which then holds each of its lines whole for grep and copying."""
    out.print(Text(text, style=style), soft_wrap=not out.is_terminal)


def print_warnings(warnings, out: Console, where: str = "see the report") -> None:
    if warnings and QUIET:
        out.print(f"[yellow]{len(warnings)} warning(s): {where}[/yellow]")
    elif warnings:
        out.print(f"[bold yellow]Warnings ({len(warnings)})[/bold yellow]")
        for w in warnings:
            out.print(Text.assemble(("  ! ", "yellow"), w))


def print_profile(report: ProfileReport, out: Optional[Console] = None) -> None:
    out = out or console()
    show(sections.tables(report, records=False), out)
    if report.findings and not QUIET:
        out.print(f"[bold]Findings ({len(report.findings)})[/bold]")
        for f in report.findings:
            out.print(Text(f"  > {f}"))
    if report.runs:
        show([sections.summary_table(report)], out)
    print_warnings(report.warnings, out)
    whole_line(out, headline(report))
    nxt = next_step([r.precision for r in report.runs if r.accuracy is not None and r.accuracy.verdict != "PASS"],
                    report.model.source)
    if nxt:
        out.print(Text(nxt))


def print_bench(result: BenchResult, out: Optional[Console] = None) -> None:
    out = out or console()
    show([t for t in (sections.runs_table(result.runs), sections.stage_table(result.runs),
                      sections.control_table(result.runs), sections.witness_table(result.runs),
                      *sections.breakdown_tables(result.runs, result.settings.layer_depth)) if t.rows], out)
    print_warnings(result.warnings, out, "leave out -q, or --json, to read them")
    whole_line(out, bench_closing(result.runs))


def print_flops(s: FlopSummary, per_node: bool, out: Optional[Console] = None) -> None:
    out = out or console()
    show([sections.flops_table(s.stages, s.policy_step_flops_total, s.calls_per_step), sections.op_table(s.by_op_type),
          sections.weight_memory_table(s.weight_bytes_by_precision, s.params)], out)
    if s.kv_cache_bytes:
        out.print(f"KV cache (tensors marked kv_cache in the manifest): {s.kv_cache_bytes:,} bytes")
    if per_node:
        show([sections.node_table(name, r) for name, r in s.stages.items()], out)
    for name, r in s.stages.items():
        for op, n in r.unknown_ops.items():
            out.print(f"[yellow]unknown op[/yellow] {op} x{n} in {name}: not counted (total is a lower bound)")
        for u in r.unresolved_nodes[:20]:
            out.print(Text.assemble(("unresolved", "yellow"), f" {name}: {u}"))
    if s.assumed_dims:
        out.print(Text.assemble(("note", "yellow"), f": {sections.assumed_note(s.assumed_dims)}"))


def print_accuracy(a: AccuracyReport, out: Optional[Console] = None) -> None:
    out = out or console()
    show([sections.accuracy_table(a.accuracy)], out)
    whole_line(out, accuracy_closing(a, a.subject))


def print_precision_debug(r, out: Optional[Console] = None) -> None:
    out = out or console()
    show(sections.precision_debug_tables(r), out)
    if r.note and not r.mixed_export:  # why nothing passed (also the search table's caption): not to be missed
        out.print(Text(r.note, style="yellow"))
    if r.mixed_export:
        out.print(f"{r.precision}-mixed: {r.mixed_export} (its kept nodes are in its manifest; measure it with "
                  f"`deployprof bench {r.mixed_export}`, or as a precision: `profile --precisions fp32,{r.precision},"
                  f"{r.precision}-mixed`)")


def print_predictions(p: Prediction, out: Optional[Console] = None) -> None:
    out = out or console()
    show(sections.roofline_tables(p.predictions), out)
    whole_line(out, predict_closing(p))


def print_comparison(c: Comparison, out: Optional[Console] = None) -> None:
    out = out or console()
    show([sections.comparison_table(c)], out)
    for line in c.context:
        out.print(Text(f"  differs: {line}"))
    for k in c.only_a:
        out.print(Text(f"  only in A: {sections.run_label(k)}"))
    for k in c.only_b:
        out.print(Text(f"  only in B: {sections.run_label(k)}"))
    for r in c.runs:
        for f in r.flags:
            out.print(Text(f"  flagged {sections.run_label(r.key)}: {f}"))
    if not c.runs:
        out.print("[yellow]no runs matched[/yellow]: try --ignore precision (or backend, batch)")
    whole_line(out, c.conclusion or "no runs compared", "red" if c.regressions else "")


def print_qualification(q: Qualification, out: Optional[Console] = None) -> None:
    out = out or console()
    show(sections.qualification_tables(q), out)
    for n in q.notes:
        whole_line(out, f"note: {n}", "")
    whole_line(out, f"{q.status} ({qualification_basis(q)}; spec {q.spec})", f"bold {STYLES[q.status]}")


def print_backends(backends, out: Optional[Console] = None) -> None:
    """backends: the registry (backends.BACKENDS), handed in by the command."""
    rows, warnings = [], []
    for name, cls in backends.items():
        a = cls.availability()
        rows.append((name, "yes" if a.ok else "no", a.reason))
        if a.warning and a.warning not in warnings:
            warnings.append(a.warning)
    show([Table("Backends", ("backend", "available", "detail"), rows)], out or console())
    for w in warnings:
        stderr_console().print(Text.assemble(("warning", "bold red"), f": {w}"))


def print_history(h, out: Optional[Console] = None) -> None:
    show([history_table(h)], out or console())


def print_sweep(s, out: Optional[Console] = None) -> None:
    show([sweep_table(s), sweep_matrix(s)], out or console())


def print_selfcheck(c, out: Optional[Console] = None) -> None:
    show([selfcheck_table(c)], out or console())


def print_self_test(result, out: Optional[Console] = None) -> None:
    show([self_test_table(result)], out or console())


def print_models(out: Optional[Console] = None) -> None:
    try:
        from ..vla import build_stages, count_parameters
    except ImportError:
        build_stages = None
    rows = []
    for p in list_presets():
        params = stages = "(needs torch)"
        if build_stages is not None:
            build = build_stages(p, device="meta")
            params = f"{sum(count_parameters(p, build).values()) / 1e6:,.1f} M"
            shape = "x".join(str(d) for d in build.action_shape[1:])
            stages = ", ".join(f"{c.stage} x{c.repeat}" for c in build.schedule) + f" -> {build.action_output} {shape}"
        rows.append((p.name, p.family, params, stages, p.config["description"]))
    show([Table("Reference presets (random weights, real structure)",
                ("preset", "family", "params", "stages (calls per policy step)", "description"), rows)], out or console())


def print_targets(out: Optional[Console] = None) -> None:
    """The device x precision table: each arithmetic's dense peak where the device runs it natively, `-` where it
    does not (a precision needing it is refused on that target)."""
    rows, caption = [], ""
    for name in list_targets():
        p = load_target_profile(name)
        if name == "cpu":  # measured now (about two seconds): no datasheet applies to this machine
            caption = (f"cpu: {p.sources['peak']}; {p.sources['peak_estimate']}; INT8 {p.sources['peak_int8']}; "
                       f"{p.sources['emulated']}. int4 (weight-only) computes in FP16 arithmetic; nvfp4 needs fp4")
        peaks = [f"{p.peak_tflops[k]:.4g}" if k in p.peak_tflops else ("emul." if k in p.emulated else "-")
                 for k in ARITHMETIC]
        rows.append((name, *peaks, f"{p.memory_bandwidth_gbs:g}", f"{p.memory_gib:g} GiB" + (" unified" if p.unified_memory else ""),
                     str(p.dla_cores), ", ".join(p.power_modes) or "-", p.typical_tensorrt or "-"))
    show([Table("Target profiles: dense peak TFLOP/s per arithmetic (`-`: not native, refused); NAME@MODE for a Jetson "
                "power mode; or a path to your own YAML",
                ("target", *(k.upper() for k in ARITHMETIC), "GB/s", "memory", "DLA", "power modes", "TensorRT"), rows,
                caption)], out or console())
