"""`deployprof flops` and `predict`: what an export costs, counted without running it."""
from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import COUNT, emit, json_option, shape_options, terminal
from ..config import parse_dim_bindings, parse_precisions, parse_shape_bindings
from ..flops.summary import summarize
from ..qualify.roofline import predict_export


@click.command("flops")
@click.argument("model", type=click.Path(path_type=Path))
@shape_options
@click.option("--per-node", is_flag=True, help="Include every node's cost.")
@json_option
@click.option("--strict", is_flag=True, help="Unknown ops or unresolved shapes are an error, not a lower bound.")
def flops(model: Path, dim, shape, per_node: bool, as_json: bool, strict: bool) -> None:
    """Count MACs, FLOPs, parameters and memory of an ONNX file or export folder, without loading weights."""
    summary = summarize(model, parse_dim_bindings(dim), parse_shape_bindings(shape), per_node, strict)
    if as_json:
        return emit(summary)
    terminal().print_flops(summary, per_node)


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
