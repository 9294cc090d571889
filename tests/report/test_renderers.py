import dataclasses
import re
from html import escape

import numpy as np

from deployprof.measure.stats import compute_stats
from deployprof.report.html import render_html
from deployprof.report.markdown import render_markdown
from deployprof.report import sections
from deployprof.report.summary import headline
from deployprof.report.terminal import print_profile

from ..test_results import make_report
from ..conftest import invoke


def _report_with(precisions=("fp32", "fp16")):
    base = make_report()
    run = base.runs[0]
    rng = np.random.default_rng(0)
    runs = tuple(dataclasses.replace(run, precision=p, latency=compute_stats(list(rng.normal(2.0 + i, 0.1, 400))),
                                     accuracy=dataclasses.replace(run.accuracy, precision=p) if p != "fp32" else None)
                 for i, p in enumerate(precisions))
    return dataclasses.replace(base, runs=runs)


def test_summary_has_one_row_per_configuration_and_accuracy_per_precision():
    rep = _report_with()
    _, header, rows, _ = sections.summary_table(rep)
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    assert rows[0][-1] == "-" and rows[1][-1] == "FAIL: cos min 0.98000, max 0.5"
    assert header[-1] == "accuracy vs ort-cpu:fp32"
    assert "Fastest: trt fp32 at batch 1: policy step" in headline(rep)


def test_markdown_carries_the_same_tables():
    rep = _report_with()
    md = render_markdown(rep)
    summary = sections.summary_table(rep)
    assert "| " + " | ".join(summary.header) + " |" in md
    for row in summary.rows:
        assert "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" in md
    for title in ("## Warnings", "## All runs", "## Accuracy of each configuration", "## Build provenance", "## Environment and model",
                  "## Slowest engine layers", "## Host<->device copies", "## Power, clocks and temperature"):
        assert title in md


def test_html_is_self_contained_with_a_plot_per_section():
    html = render_html(_report_with())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from the network
    assert "<link" not in html and "@import" not in html
    for title in ("Latency CDF", "Latency histogram", "Policy step: mean ms per stage", "Action error vs the reference, per action dimension",
                  "Error of the denoised state after each step"):
        assert title in html
    assert html.count('<svg class="plot"') >= 5
    assert "TensorRT 10.3.0 on Orin" in html  # engine provenance


def test_html_escapes_user_text():
    rep = _report_with()
    rep = dataclasses.replace(rep, warnings=("<script>alert(1)</script>",))
    assert "<script>alert(1)" not in render_html(rep) and "&lt;script&gt;" in render_html(rep)


def test_static_only_report_renders_without_runs():
    rep = dataclasses.replace(make_report(), runs=(), training=())
    assert "No latency measured" in render_html(rep) and "No latency measured" in render_markdown(rep)


def _terminal(rep, width=400) -> str:
    from rich.console import Console

    con = Console(record=True, width=width)
    print_profile(rep, con)
    return con.export_text()


def test_the_terminal_renders_the_shared_tables_and_nothing_else_of_its_own():
    """The terminal shows report/sections.py tables (the records aside): every title, and every summary cell."""
    rep = _report_with()
    text = _terminal(rep)
    shown = sections.tables(rep, records=False) + [sections.summary_table(rep)]
    for t in shown:
        assert t.title in text
        for row in t.rows[:3]:
            for cell in row:
                assert cell[:40] in text, (t.title, cell)
    for t in sections.tables(rep):
        assert t.title in render_markdown(rep) and escape(t.title) in render_html(rep)
    assert "Build provenance" not in text and "Environment and model" not in text
    assert "Warnings (1)" in text and headline(rep) in text
    # one wording of a percentile with its CI, in every format
    cell = sections.summary_table(rep).rows[0][3]
    assert cell in text and cell in render_markdown(rep)


def test_terminal_output_of_a_static_only_report():
    text = _terminal(dataclasses.replace(make_report(), runs=(), training=()))
    assert "No latency measured" in text and "Summary" not in text


def test_ran_column_reads_the_stop_as_data_never_a_substring():
    """'not converged (time cap ...)' contains 'converged': the column once read 'converged' for capped runs."""
    run = make_report().runs[0]
    capped = dataclasses.replace(run, loop_wall_s=30.0, stop="time_cap",
                                 stopped_by="time cap 30 s, not converged: p50 CI +-1.4%, p99 CI bounded")
    legacy = dataclasses.replace(capped, stop=None)  # a report written before `stop` was recorded
    done = dataclasses.replace(run, loop_wall_s=2.0, stop="converged", stopped_by="converged: p50 CI +-0.5%")
    cells = [row[-2] for row in sections.runs_table((capped, legacy, done)).rows]
    assert cells == ["30.0 s TIME CAP (not converged)", "30.0 s TIME CAP (not converged)", "2.0 s converged"]


def test_tables_fit_the_terminal_and_never_drop_a_column():
    """Fixed at 240 columns once (214-character lines in a 100-column SSH session); compare-precision at 160 cut
    values and dropped the verdict column."""
    from rich.console import Console

    from deployprof.report.terminal import fit, show

    rep = _report_with()
    for width in (100, 80):
        out = Console(width=width, record=True, force_terminal=True)   # an SSH session's terminal
        print_profile(rep, out)
        text = out.export_text()
        assert max(map(len, text.splitlines())) <= width
        runs = sections.runs_table(rep.runs)
        parts = fit(runs, width)
        assert len(parts) > 1 and all(p.header[:3] == ("stage", "backend", "precision") for p in parts), \
            [p.header[:3] for p in parts]   # each part names its rows whole (once: no precision after the first)
        assert {h for p in parts for h in p.header} == set(runs.header)  # every column somewhere
        for header in ("verdict", "noisy", "load / first ms"):
            assert header in text.replace("\n", " ") or any(header in p.header for p in parts)
    acc = sections.accuracy_table(tuple(r.accuracy for r in rep.runs if r.accuracy))
    out = Console(width=100, record=True)
    show([acc], out)
    text = out.export_text()
    assert "verdict" in text and "FAIL" in text and "…" not in text  # folded, never cut with an ellipsis


def test_quiet_leaves_the_closing_line(tmp_path):


    rep = _report_with()
    rep.write(tmp_path / "report.json")
    (tmp_path / "spec.yaml").write_text("latency_ms: {p99: 1000}\n")
    res = invoke(["-q", "qualify", "--spec", str(tmp_path / "spec.yaml"), str(tmp_path), "--no-store"])
    assert res.output.strip().startswith(("PASS (measured on", "INCONCLUSIVE (measured on")) and len(res.output.splitlines()) == 1
    res = invoke(["qualify", "--spec", str(tmp_path / "spec.yaml"), str(tmp_path), "--no-store"])
    assert len(res.output.splitlines()) > 3  # not quiet: the tables come back


def test_plot_numbers_are_plain_with_si_prefixes():
    """Tick labels once mixed "1e+03" and "1.0e+04" on one axis."""
    from deployprof.report.svg import _fmt

    assert [_fmt(v) for v in (1000, 10000, 0.5, 2.5e-5, 1234567)] == ["1k", "10k", "0.5", "25µ", "1.23M"]
    assert not any("e" in _fmt(v) for v in (1e-8, 3e-4, 1e3, 1e4, 1e5, 7e11))


def test_plots_people_can_read():
    """Legends once overlapped lines and ceilings, history ticks were fractional run indices, sweep labels piled up,
    FP16 errors lay flat on a linear axis beside INT8's."""
    from deployprof.report import svg

    chart = svg.line_chart("t", [("fp16", [0, 1, 2], [1e-5, 2e-5, 1e-5]), ("int8", [0, 1, 2], [0.1, 0.3, 0.2])],
                           "x", "y", logy=svg.spans_decades([1e-5, 2e-5, 0.1, 0.3]))
    legend_x = [float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.-]+" width="10"', chart)]
    assert legend_x and min(legend_x) >= svg.W  # beside the plot area, not over it
    assert svg.spans_decades([1e-5, 0.3]) and not svg.spans_decades([0.1, 0.3])
    ticks = svg.line_chart("t", [("p50", [1, 2, 3], [1.0, 2.0, 3.0])], "x", "y",
                           xlabels={1: "abc1234", 2: "def5678", 3: "11-30 10:00"})
    assert "abc1234" in ticks and "11-30 10:00" in ticks and ">1.5<" not in ticks
    pile = svg.scatter("s", [(f"config {i}", 1.0, 1.0) for i in range(5)] + [("far", 9.0, 0.1)], "x", "y")
    boxes = [(float(x), float(y)) for x, y in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" class="k">config', pile)]
    assert 1 <= len(boxes) < 5  # the rest are left to their tooltips, none drawn over another
    assert pile.count("<title>config") == 5 and ">far<" in pile


def test_plots_round_4_axes_units_scales_and_labels():
    """A 1.6 ms backend beside a 700 ms one lay flat on linear axes; op-type FLOPs read "788µ" GFLOPs; icicles had no
    scale; precision-debug's labels covered other points; the accuracy verdict sat behind a scrollbar."""
    from deployprof.report import svg
    from deployprof.report.html import latency_plots

    report = make_report()
    fast, slow = report.runs[0], report.runs[0]
    rng = np.random.default_rng(0)
    runs = (dataclasses.replace(fast, backend="ort-cpu", latency=compute_stats(list(rng.normal(1.6, 0.05, 400)))),
            dataclasses.replace(slow, backend="torch", latency=compute_stats(list(rng.normal(700, 20, 400)))))
    cdf, hist = latency_plots(dataclasses.replace(report, runs=runs))
    assert "latency (ms) (log)" in cdf and "latency (ms) (log)" in hist
    bars = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="#', hist)]
    assert len(bars) > 4 and max(bars) < 100   # each backend spread over bins of its own, not one bar at zero
    (same,) = latency_plots(dataclasses.replace(report, runs=runs[:1]))[:1]
    assert "(log)" not in same
    assert svg.flop_unit([7.88e8, 1e6]) == (1e6, "MFLOPs") and svg.flop_unit([3e9]) == (1e9, "GFLOPs")
    ice = svg.icicle("t", [("a", 1, 0.0, 0.6, "compute", "a"), ("b", 1, 0.6, 0.4, "memory", "b")], 1, 2.0)
    assert "50% · 1 ms" in ice and "100% · 2 ms" in ice
    # precision-debug's points: close together, long labels
    pts = [("fp32", 10.0, 0.0), ("int8", 6.0, 0.3), ("1 kept", 7.0, 0.02), ("2 kept", 7.3, 0.03),
           ("denoise:big alone kept", 6.8, 0.04), ("denoise:(Mul) alone kept", 6.9, 0.05), ("int8-mixed", 7.1, 0.01)]
    near = svg.scatter("s", pts, "x", "y")
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" class="k">([^<]+)</text>', near)
    markers = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', near)]
    drawn = [(float(x), float(y), len(t)) for x, y, t in labels if t in {n for n, _, _ in pts}]
    assert len(drawn) >= 4
    for x, y, n in drawn:   # no label (6 px a character of the 10 px font, 10 px high) covers a marker
        assert not any(x - 3 < px < x + 6 * n + 3 and y - 13 < py < y + 3 for px, py in markers), (x, y, n)
    header = sections.accuracy_table(tuple(a for r in report.runs if (a := r.accuracy))).header
    assert header.index("verdict") == 3


def test_summary_cells_keep_to_one_line_and_long_text_wraps():
    html = render_html(_report_with())
    assert "white-space:nowrap" in html and "<div class='scroll'><table>" in html
    assert "<td class='w'>" in html  # provenance and notes may wrap


def test_a_continued_table_repeats_the_rows_name_past_a_rank():
    """The layer-time table (stage, rank, module, ...) at 100 columns once repeated only the stage: rows that looked
    the same. Each part now carries stage and module."""
    from deployprof.report.sections import Table
    from deployprof.report.terminal import fit

    header = ("stage", "rank", "module", *(f"figure {k}" for k in range(12)))
    rows = [("vision", str(i + 1), f"encoder.layers.{i}.mlp", *(f"{i * k:.4f}" for k in range(12))) for i in range(3)]
    parts = fit(Table("t", header, rows, ""), 100)
    assert len(parts) > 1 and all(p.header[:2] == ("stage", "module") for p in parts)
    assert {h for p in parts for h in p.header} == set(header)


def test_a_captions_prose_uses_the_consoles_width_not_the_tables():
    """predict's closing prose once wrapped at its 39-column table; the compare-precision legend at 49."""
    from rich.console import Console

    from deployprof.report.sections import Table
    from deployprof.report.terminal import show

    caption = "policy step floor 0.020 ms. Memory: weights 1.2 MiB + KV 0 B + activations 80 KiB = 1.3 MiB, 0.0% of 8 GiB"
    out = Console(width=160, record=True)
    show([Table("t", ("stage", "ms"), [("vision", "0.01")], caption)], out)
    text = out.export_text()
    assert text.rstrip().splitlines()[-1] == caption   # one line: the console is wide enough
