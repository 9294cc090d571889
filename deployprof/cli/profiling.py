"""`deployprof bench`, `profile`, `train-bench`: measured runs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import (emit, force_option, json_option, measure_options, precision_options, profile_options,
                           progress, reference_option, store_options, terminal, train_options)
from ..config import CalibrationConfig, MeasureConfig, Settings, parse_precisions, split_list
from ..pipeline import bench as run_bench, plan_profile, profile as run_profile, train_profile
from ..train import TrainConfig
from .storing import store_from, store_result


@click.command("bench")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--backend", default="ort-cpu", show_default=True, help="One backend (see `deployprof backends`).")
@click.option("--precision", default=None,
              help="Prepare this precision from the FP32 model first (fp16, fp16-naive, int8, int8-dynamic); default: "
                   "the export as it is (a prepared or mixed variant included).")
@json_option
@measure_options
@precision_options
@store_options
def bench(model: Path, backend: str, precision: str, as_json: bool, **o) -> None:
    """Measure one backend on an ONNX file or export folder: every stage, and the policy step."""
    stored = store_from(o)
    with progress(live=not o["in_process"]) as bar:
        result = run_bench(str(model), backend, parse_precisions(precision)[0] if precision else None,
                           MeasureConfig.from_options(o), CalibrationConfig.from_options(o), say=bar, phases=bar.plan)
    if as_json:
        emit(result)
    else:
        terminal().print_bench(result)
    store_result(result, stored)


@click.command("profile")
@click.argument("subject")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, export/).")
@click.option("--backends", "backend_names", multiple=True, default=("ort-cpu",), show_default=True,
              help="Comma-separated backends to measure.")
@click.option("--skip-unavailable", is_flag=True, help="Skip backends that cannot run here, with a warning.")
@click.option("--precisions", default="fp32", show_default=True,
              help="Comma list: fp32, fp16, fp16-naive, int8, int8-dynamic, int8-mixed, fp16-mixed (each measured, and "
                   "compared with FP32; a -mixed one is found first by precision-debug's search, on ort-cpu).")
@click.option("--target", "target_name", default=None,
              help="Target profile for the roofline (predicted vs measured): see `deployprof targets`; `cpu` for this machine.")
@reference_option
@profile_options
@click.option("--interleave", is_flag=True,
              help="Also time each precision against FP32 on each backend in alternating blocks in one window (as "
                   "compare --interleave): the speed-up to trust on a shared machine.")
@force_option
@measure_options
@precision_options
@store_options
def profile(subject: str, out: Path, backend_names, skip_unavailable: bool, precisions: str,
            target_name: Optional[str], interleave: bool, force: bool, **o) -> None:
    """Export (a preset or a LeRobot checkpoint folder), count, and measure each backend; write OUT/report.json and
    print a summary."""
    stored = store_from(o)
    settings = Settings.from_options(o)
    with progress(live=not o["in_process"]) as bar:
        plan = plan_profile(subject, split_list(backend_names), settings, precisions=parse_precisions(precisions),
                            skip_unavailable=skip_unavailable, target_name=target_name, interleave=interleave,
                            say=bar)
        report = run_profile(plan, out, say=bar, phases=bar.plan, force=force)
    terminal().print_profile(report)
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")
    store_result(report, stored)


@click.command("train-bench")
@click.argument("preset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, .md, .html).")
@force_option
@train_options
@store_options
def train_bench_cmd(preset: str, out: Path, target_name: Optional[str], force: bool, **o) -> None:
    """Fine-tuning cost of a reference preset: step time, samples/s, time per epoch, peak memory, MFU and
    convergence, with the loss its family trains with, on a seeded synthetic dataset."""
    stored = store_from(o)
    with progress(live=False) as bar:
        report = train_profile(preset, out, TrainConfig(**o), target_name, say=bar, phases=bar.plan, force=force)
    terminal().print_profile(report)
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")
    store_result(report, stored)
