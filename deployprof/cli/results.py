"""`deployprof report`, `compare`, `history`: results already measured, read again."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import Finite, emit, json_option, terminal, within
from ..config import split_list
from ..errors import ConfigError, DeployprofError
from ..abtest import interleaved_compare
from ..compare import compare_paths, compare_to_stored
from ..history import history as read_history, write_history_html
from ..report.render import render_all
from ..results import ProfileReport
from ..store import StoreOptions


@click.command("report")
@click.argument("folder", type=click.Path(path_type=Path))
def report(folder: Path) -> None:
    """Re-render report.md and report.html (and the terminal summary) from FOLDER/report.json alone."""
    path = folder / "report.json" if folder.is_dir() else folder
    rep = ProfileReport.read(path)
    problems = render_all(rep, path.parent)
    try:
        terminal().print_profile(rep)
    except (OSError, DeployprofError):
        raise
    except Exception as exc:  # the files are written; the summary is one view of them
        problems.append(f"the terminal summary failed ({type(exc).__name__}: {str(exc)[:200]})")
    for name in ("report.md", "report.html"):
        if not any(p.startswith(name) for p in problems):
            click.echo(f"wrote {path.parent / name}")
    for p in problems:
        click.echo(f"warning: {p}", err=True)


@click.command("compare")
@click.argument("reports", nargs=-1, type=click.Path(path_type=Path))
@click.option("--baseline", default=None, metavar="store:QUERY",
              help="Compare RUN against the stored history matching QUERY (key=value,...: subject, backend, "
                   "precision, batch, device, commit, since; default: RUN's policy on RUN's device): the newest stored "
                   "profile, judged against the spread of the newest stored runs. A regression exits 3 (a CI gate).")
@click.option("--store", "store_where", default=None, metavar="PATH|URL", help="The results store for --baseline.")
@click.option("--interleave", is_flag=True,
              help="A and B are exports (or .onnx files): re-measure both here, in alternating blocks in one window, "
                   "and judge the paired ratio (the comparison to trust on a shared machine).")
@click.option("--backend", default="ort-cpu", show_default=True, help="With --interleave: the backend both run on.")
@click.option("--max-duration", "max_s", type=Finite(0), default=60.0, show_default=True,
              help="With --interleave: seconds at most (it stops earlier once the interval decides).")
@click.option("--fail-on-regression", "threshold", type=Finite(0), default=None, metavar="PCT",
              help="Exit 3 when a run is slower by more than PCT percent with 95% confidence between runs.")
@click.option("--metric", "metrics", default="p50,p99", show_default=True, help="Percentiles to compare (p50, p90, p95, p99).")
@click.option("--ignore", "ignore", default="", help="Run fields not to match on: backend, precision, batch (comma list).")
@json_option
@click.pass_context
def compare(ctx, reports: tuple[Path, ...], baseline: Optional[str], store_where: Optional[str], interleave: bool,
            backend: str, max_s: float, threshold: Optional[float], metrics: str, ignore: str, as_json: bool) -> None:
    """Compare two reports A B (another device, commit or precision), one RUN against the stored history, or (with
    --interleave) two exports re-measured side by side. A change is judged by the spread between runs (repeats,
    stored history or interleaved blocks), never by one run's own intervals; without any, it is shown, not judged.
    Exit 3 with --fail-on-regression (or --baseline) when a run is slower by more than PCT with 95% confidence."""
    metric_list, ignored = tuple(split_list((metrics,))), tuple(split_list((ignore,)))
    if interleave:
        if baseline is not None or len(reports) != 2:
            raise ConfigError("compare --interleave takes two exports (or .onnx files) A B, and no --baseline")
        c = interleaved_compare(reports[0], reports[1], backend, threshold, max_s)
    elif baseline is not None:
        if len(reports) != 1 or not baseline.startswith("store:"):
            raise ConfigError("compare --baseline store:QUERY takes one RUN (a report.json or its folder)")
        c = compare_to_stored(baseline[len("store:"):], reports[0], StoreOptions(where=store_where), metric_list,
                              ignored, threshold)
    else:
        if len(reports) != 2:
            raise ConfigError(f"compare takes two reports A B (or --baseline store:QUERY RUN), got {len(reports)}")
        c = compare_paths(reports[0], reports[1], metric_list, ignored, threshold)
    if as_json:
        emit(c)
    else:
        terminal().print_comparison(c)
    if (threshold is not None or baseline is not None) and c.regressions:
        ctx.exit(3)


@click.command("history")
@click.option("--subject", "--preset", "subject", default=None, help="A preset name or model path, as profiled.")
@click.option("--backend", default=None)
@click.option("--precision", default=None)
@click.option("--batch", type=within("batch"), default=None)
@click.option("--device", default=None, help="Device name as recorded (GPU, Jetson model or CPU).")
@click.option("--commit", default=None)
@click.option("--kind", type=click.Choice(["profile", "bench"]), default=None, help="Results of `profile` or `bench` only.")
@click.option("--since", default=None, metavar="DATE", help="ISO date or time (UTC), e.g. 2026-11-01.")
@click.option("--limit", type=within("store_limit"), default=200, show_default=True, help="The newest N stored results.")
@click.option("--store", "store_where", default=None, metavar="PATH|URL", help="The results store to read.")
@click.option("--html", "html_path", type=click.Path(path_type=Path), default=None,
              help="Also write the trend plot (p50/p99 with CI bands, accuracy) to this HTML file.")
@json_option
def history(subject, backend, precision, batch, device, commit, kind, since, limit, store_where, html_path,
            as_json) -> None:
    """Stored results across commits, dates and devices: a table, and with --html a trend plot."""
    filters = {k: v for k, v in dict(subject=subject, backend=backend, precision=precision, batch=batch,
                                     device=device, commit=commit, since=since, kind=kind).items() if v is not None}
    h = read_history(StoreOptions(where=store_where), filters, limit)
    if as_json:
        emit(h)
    else:
        terminal().print_history(h)
    if html_path is not None:
        click.echo(f"trend plot: {write_history_html(h, html_path)}", err=as_json)
