"""`deployprof compare-precision` and `precision-debug`: what a lower precision costs in actions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import (Finite, emit, force_option, json_option, precision_options, progress, reference_option,
                           terminal, within)
from ..config import AccuracyConfig, CalibrationConfig, parse_precisions
from ..errors import DeployprofError
from ..pipeline import compare_precisions
from ..precision.debug import debug_precision
from ..precision_names import LOW
from ..report.render import render_precision_debug


@click.command("compare-precision")
@click.argument("export_dir", metavar="PRESET|DIR|MODEL.onnx")
@click.option("--precisions", default="fp16,int8", show_default=True, help="Comma list of precisions to compare.")
@click.option("--backend", default="ort-cpu", show_default=True, help="The backend each precision runs on.")
@reference_option
@click.option("--samples", type=within("samples"), default=AccuracyConfig.samples, show_default=True,
              help="Seeded policy steps to compare on.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Keep the prepared exports here.")
@force_option
@json_option
@precision_options
@click.pass_context
def compare_precision(ctx, export_dir: Path, precisions: str, backend: str, samples: int,
                      out: Optional[Path], force: bool, as_json: bool, **o) -> None:
    """Accuracy alone: each precision's actions on BACKEND against the reference's FP32 actions, on the same seeded
    inputs and noise. Exit 3 unless every precision PASSes (its --atol / --min-cosine, else the default bands; a WARN
    exits 3 as qualify's INCONCLUSIVE does)."""
    result = compare_precisions(export_dir, parse_precisions(precisions), backend=backend,
                                accuracy=AccuracyConfig.from_options(o, samples), out=out,
                                calib=CalibrationConfig.from_options(o), force=force)
    if as_json:
        emit(result)
    else:
        terminal().print_accuracy(result)
    if any(a.verdict != "PASS" for a in result.accuracy):
        ctx.exit(3)


@click.command("precision-debug")
@click.argument("export_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--precision", type=click.Choice(list(LOW)), required=True, help="The low precision to debug.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Run folder: precision-debug.json and .html, the evaluation cache (a rerun resumes), "
                   "export-PRECISION-mixed/.")
@click.option("--backend", default="ort-cpu", show_default=True, help="The backend each configuration runs on.")
@reference_option
@click.option("--samples", type=within("samples"), default=AccuracyConfig.samples, show_default=True,
              help="Seeded policy steps each configuration is judged on.")
@click.option("--depth", type=within("layer_depth"), default=1, show_default=True,
              help="Module depth of the components (1: each stage's top-level modules).")
@click.option("--confirm-samples", type=within("samples"), default=None,
              help="Fresh policy steps (another seed) the selected set must PASS too (default: 4x --samples, at least 16).")
@click.option("--max-evaluations", type=click.IntRange(2), default=None, help="Stop after this many evaluations.")
@click.option("--max-time", type=Finite(0), default=None,
              help="Stop starting evaluations after this many seconds (0: only the two every search needs).")
@force_option
@json_option
@precision_options
@click.pass_context
def precision_debug(ctx, export_dir: Path, precision: str, out: Path, backend: str, samples: int,
                    depth: int, confirm_samples: Optional[int], max_evaluations: Optional[int],
                    max_time: Optional[float], force: bool, as_json: bool, **o) -> None:
    """Which components break INT8 / FP16 in action space (each alone at the low precision, through whole policy
    steps), and the smallest set kept in FP32 that PASSes with half the error budget to spare (greedy by
    sensitivity, then pruned), confirmed on fresh samples; writes the mixed export. Exit 3 when nothing passes."""
    with progress(live=False) as bar:
        result = debug_precision(export_dir, precision, out, backend=backend, depth=depth,
                                 accuracy=AccuracyConfig.from_options(o, samples),
                                 calib=CalibrationConfig.from_options(o),
                                 max_evaluations=max_evaluations, max_time_s=max_time, confirm_samples=confirm_samples,
                                 progress=bar, phases=bar.plan, force=force)
    try:  # precision-debug.json is written; the page is one view of it
        render_precision_debug(result, out)
    except (OSError, DeployprofError):
        raise
    except Exception as exc:
        click.echo(f"warning: precision-debug.html not written ({type(exc).__name__}: {str(exc)[:200]}); "
                   "precision-debug.json holds every figure", err=True)
    if as_json:
        emit(result)
    else:
        terminal().print_precision_debug(result)
    if not result.passed:
        ctx.exit(3)
