"""`deployprof sweep`: a matrix of configurations, each profiled and stored."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import emit, force_option, json_option, progress, terminal
from ..store import StoreOptions
from ..sweep import checked_sweep, run_sweep


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for each configuration's run, sweep.json and sweep.html.")
@click.option("--store", "store_where", default=None, metavar="PATH|URL",
              help="Results store, which is also the checkpoint a rerun resumes from.")
@click.option("--commit", default=None, envvar="DEPLOYPROF_COMMIT", metavar="REV", help="The policy's commit or version.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Dispatch each configuration to the Ray cluster node labelled with its device (`devices:`).")
@click.option("--dry-run", is_flag=True, help="Read and validate the whole matrix, list its configurations, run nothing.")
@force_option
@json_option
def sweep(sweep_file: Path, out: Path, store_where: Optional[str], commit: Optional[str], ray_address: Optional[str],
          dry_run: bool, force: bool, as_json: bool) -> None:
    """Run a matrix (subjects x backends x precisions x batches x targets [x fleet devices]) from SWEEP_FILE, checked
    whole before any work; each finished configuration is stored, so a rerun resumes. Writes OUT/sweep.html (Pareto
    plot, PASS/FAIL matrix linked to each run's report); exit 1 when a configuration failed.
    The YAML format: see README or `python -c "import deployprof.sweep as s; print(s.__doc__)"`."""
    def warn(line: str) -> None:
        click.echo(f"warning: {line}", err=True)

    if dry_run:
        configurations = checked_sweep(sweep_file, ray_address, warn).configurations
        for c in configurations:
            click.echo(c.label())
        click.echo(f"{len(configurations)} configuration{'s' * (len(configurations) != 1)} valid; nothing run (--dry-run)")
        return
    with progress() as bar:
        report = run_sweep(sweep_file, out, StoreOptions(where=store_where, commit=commit), say=bar, plan=bar.plan,
                           ray_address=ray_address, force=force, warn=warn)
    if as_json:
        emit(report)
    else:
        terminal().print_sweep(report)
        click.echo(f"sweep report: {out / 'sweep.html'} (+ sweep.json)")
    failed = [e for e in report.entries if e.status == "failed"]
    if failed:  # the report is written; the exit says the sweep is not whole
        click.echo(f"error: {len(failed)} of {len(report.entries)} configurations failed ({failed[0].backend} "
                   f"{failed[0].precision}: {failed[0].error}); sweep.json lists each reason", err=True)
        raise click.exceptions.Exit(1)
