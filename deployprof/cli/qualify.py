"""`deployprof predict` and `qualify`: the roofline floor of an export on a target, and a spec's verdict on a
report or an export."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import COUNT, emit, json_option, store_options, terminal
from ..config import parse_precisions
from ..qualify.roofline import predict_export
from ..qualify.spec import EXAMPLE
from ..qualify.verdict import qualify_source
from .storing import store_from, store_result


@click.command("predict")
@click.argument("export_dir", type=click.Path(path_type=Path))
@click.option("--target", "target_name", required=True, help="Target profile (see `deployprof targets`), NAME@MODE or YAML.")
@click.option("--precisions", default="fp32,fp16,int8", show_default=True)
@click.option("--batch", type=COUNT, default=1, show_default=True)
@json_option
def predict(export_dir: Path, target_name: str, precisions: str, batch: int, as_json: bool) -> None:
    """Roofline floor per stage and per policy step, and memory needed, for an export on a target (no run needed;
    shapes-only full-size exports work)."""
    result = predict_export(export_dir, target_name, parse_precisions(precisions), batch)
    if as_json:
        return emit(result)
    terminal().print_predictions(result)


@click.command("qualify")
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), default=None,
              help="Qualification spec (YAML); the smallest is `latency_ms: {p99: 50}`.")
@click.option("--example-spec", is_flag=True, help="Print a commented starter spec and exit.")
@click.option("--target", "target_name", default=None, help="Target profile (overrides the spec's `target:`).")
@click.option("--accept-board", is_flag=True,
              help="Judge latency even though the board failed its self-check when profiled (say why in your record).")
@json_option
@store_options
@click.pass_context
def qualify(ctx, source: Optional[Path], spec_path: Optional[Path], example_spec: bool, target_name: Optional[str],
            accept_board: bool, as_json: bool, **o) -> None:
    """Verdict of a spec against a measured REPORT (report.json or its folder), or, predicted from the roofline,
    against an EXPORT_DIR. Exit 0 PASS, 3 FAIL or INCONCLUSIVE, 1 error. --example-spec prints a starter spec."""
    if example_spec:
        click.echo("# deployprof qualification spec: every key is optional; keep the criteria you need.\n" + EXAMPLE)
        return
    if source is None or spec_path is None:
        raise click.UsageError("qualify needs a SOURCE (report or export folder) and --spec SPEC.yaml "
                               "(--example-spec prints one to start from)")

    stored = store_from(o)
    q = qualify_source(spec_path, source, target_name, accept_board)
    if as_json:
        emit(q)
    else:
        terminal().print_qualification(q)
    store_result(q, stored)
    if q.status != "PASS":
        ctx.exit(3)
