"""`deployprof models` and `targets`: the reference presets and the target profiles deployprof ships."""
from __future__ import annotations

import click

from ..cli_options import terminal


@click.command("models")
def models() -> None:
    """List the reference VLA presets with parameter counts and stage structure."""
    terminal().print_models()


@click.command("targets")
def targets() -> None:
    """List target profiles (datasheet peaks, bandwidth, memory) for roofline predictions and qualification."""
    terminal().print_targets()
