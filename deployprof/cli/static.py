"""`deployprof flops`: what an ONNX graph or export costs, counted without running it."""
from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import emit, json_option, shape_options, terminal
from ..config import parse_dim_bindings, parse_shape_bindings
from ..flops.summary import summarize


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
