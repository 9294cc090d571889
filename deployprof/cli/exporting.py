"""`deployprof export`: a preset, your own module or a LeRobot checkpoint to ONNX stages."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..cli_options import export_options
from ..export import export_module_isolated, export_preset
from ..lerobot import is_checkpoint


@click.command("export")
@click.argument("preset", required=False)
@click.option("--module", "module_ref", default=None, metavar="PKG.MOD:FACTORY",
              help="Your own model: a callable returning (torch module, example inputs tuple or dict).")
@click.option("--lerobot", "lerobot_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="A LeRobot checkpoint folder (pretrained_model: config.json, model.safetensors, processors).")
@export_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the ONNX stages and manifest.json.")
@click.option("--weights", type=click.Choice(["auto", "real", "meta"]), default="auto", show_default=True,
              help="real: random fp32 weights, parity-checked; meta: shapes only, for counting; auto: meta above 4 GiB.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder (it is swapped out whole, never mixed).")
def export(preset: Optional[str], module_ref: Optional[str], lerobot_dir: Optional[Path], task: str, out: Path,
           exporter: Optional[str], weights: str, force: bool) -> None:
    """Export a preset (name or YAML path), your own model with --module, or a LeRobot checkpoint with --lerobot, to
    one ONNX graph per stage, checked against PyTorch in ONNX Runtime (a LeRobot policy step also against LeRobot's
    own select_action)."""
    if preset and lerobot_dir is None and is_checkpoint(Path(preset)):
        preset, lerobot_dir = None, Path(preset)
    if sum(x is not None for x in (preset, module_ref, lerobot_dir)) != 1:
        raise click.UsageError("give a preset name/YAML, --module PKG.MOD:FACTORY or --lerobot DIR (one of them)")
    if lerobot_dir is not None:
        from ..lerobot.export import export_lerobot

        manifest, timings = export_lerobot(lerobot_dir, out, task=task, exporter=exporter, force=force)
    elif module_ref:
        manifest, timings = export_module_isolated(module_ref, out, exporter=exporter, force=force)
    else:
        manifest, timings = export_preset(preset, out, exporter=exporter, weights=weights, force=force)
    for s in manifest.stages:
        parity = f"parity max|err| {s.parity_max_abs_err:.2e}" if s.parity_max_abs_err is not None else "shapes only (no parity)"
        click.echo(f"{s.name:10s} {s.file:16s} {parity}  {timings[s.name]:.1f} s")
    if manifest.step_parity is not None:
        p = manifest.step_parity
        click.echo(f"policy step vs {p.reference}: max|err| per action dimension "
                   f"{', '.join(f'{e:.1e}' for e in p.max_abs_err_per_dim)} (tolerance {p.tolerance:g}, "
                   f"{p.samples} samples)")
    for note in manifest.notes:
        click.echo(f"note: {note}")
    click.echo(f"exporter: {manifest.exporter}; manifest: {out / 'manifest.json'}")
