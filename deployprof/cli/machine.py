"""`deployprof backends` and `doctor`: what this machine can run, and whether it is at spec."""
from __future__ import annotations

import logging
from typing import Optional

import click

from ..cli_options import emit, json_option, terminal
from ..errors import BackendUnavailableError
from ..backends import BACKENDS
from ..doctor import doctor as run_doctor
from ..selftest import run_self_test


@click.command("backends")
@click.option("--self-test/--no-self-test", "self_test", default=None,
              help="Build, run, compare and profile a 3-layer TensorRT engine (default: when TensorRT is usable here).")
@click.option("--device", default="cuda:0", show_default=True, metavar="cuda:N", help="The GPU of the self-test.")
def backends(self_test: Optional[bool], device: str) -> None:
    """List every backend with whether it can run here, and why not; with TensorRT, check it works end to end."""
    terminal().print_backends(BACKENDS)
    trt = BACKENDS.get("trt").availability()
    if self_test is False or (self_test is None and not trt.ok):
        return
    if not trt.ok:
        raise BackendUnavailableError(f"--self-test needs the trt backend: {trt.reason}")
    result = run_self_test("trt", device, say=logging.getLogger("deployprof.selftest").info)
    terminal().print_self_test(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@click.command("doctor")
@click.option("--target", "target_name", default=None,
              help="Target profile to compare with (a GPU or Jetson needs one; a CPU is compared with its own estimate).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@json_option
@click.pass_context
def doctor(ctx, target_name: Optional[str], device: str, as_json: bool) -> None:
    """Is this machine at spec? GEMM and copy ceilings measured on the device beside the target's datasheet (and a
    Jetson's power mode and clocks). Exit 3 when below 70% of the datasheet."""
    result = run_doctor(target_name, device)
    if as_json:
        emit(result)
    else:
        terminal().print_selfcheck(result)
    if result.at_spec is False:
        ctx.exit(3)
