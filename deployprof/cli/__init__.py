"""Command line. Each command parses options and calls one library function; errors become one line. A command's
module is imported only when that command runs (click's lazy subcommands): `deployprof --help` loads none of them,
and `deployprof flops` does not load what `profile` needs."""
from __future__ import annotations

import importlib
import logging
import sys

import click

from .. import __version__
from ..cli_options import Group

# name -> (module under deployprof/cli, function, the first sentence of its help: `deployprof --help` lists it
# without importing the module; tests/test_cli.py holds it to the docstring)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "backends": ("machine", "backends", "List every backend with whether it can run here, and why not; with TensorRT, "
                                        "check it works end to end."),
    "bench": ("profiling", "bench", "Measure one backend on an ONNX file or export folder: every stage, and the "
                                    "policy step."),
    "compare": ("results", "compare", "Compare two reports A B (another device, commit or precision), one RUN against "
                                      "the stored history, or (with --interleave) two exports re-measured side by "
                                      "side."),
    "compare-precision": ("precision", "compare_precision", "Accuracy alone: each precision's actions on BACKEND "
                                                            "against the reference's FP32 actions, on the same seeded "
                                                            "inputs and noise."),
    "doctor": ("machine", "doctor", "Is this machine at spec? GEMM and copy ceilings measured on the device beside "
                                    "the target's datasheet (and a Jetson's power mode and clocks)."),
    "export": ("exporting", "export", "Export a preset (name or YAML path), your own model with --module, or a "
                                      "LeRobot checkpoint with --lerobot, to one ONNX graph per stage, checked "
                                      "against PyTorch in ONNX Runtime (a LeRobot policy step also against LeRobot's "
                                      "own select_action)."),
    "flops": ("static", "flops", "Count MACs, FLOPs, parameters and memory of an ONNX file or export folder, without "
                                 "loading weights."),
    "history": ("results", "history", "Stored results across commits, dates and devices: a table, and with --html a "
                                      "trend plot."),
    "models": ("catalog", "models", "List the reference VLA presets with parameter counts and stage structure."),
    "precision-debug": ("precision", "precision_debug", "Which components break INT8 / FP16 in action space (each "
                                                        "alone at the low precision, through whole policy steps), and "
                                                        "the smallest set kept in FP32 that PASSes with half the "
                                                        "error budget to spare (greedy by sensitivity, then pruned), "
                                                        "confirmed on fresh samples; writes the mixed export."),
    "predict": ("qualify", "predict", "Roofline floor per stage and per policy step, and memory needed, for an export "
                                     "on a target (no run needed; shapes-only full-size exports work)."),
    "profile": ("profiling", "profile", "Export (a preset or a LeRobot checkpoint folder), count, and measure each "
                                        "backend; write OUT/report.json and print a summary."),
    "qualify": ("qualify", "qualify", "Verdict of a spec against a measured REPORT (report.json or its folder), or, "
                                      "predicted from the roofline, against an EXPORT_DIR."),
    "report": ("results", "report", "Re-render report.md and report.html (and the terminal summary) from "
                                    "FOLDER/report.json alone."),
    "sweep": ("sweep", "sweep", "Run a matrix (subjects x backends x precisions x batches x targets [x fleet "
                                "devices]) from SWEEP_FILE, checked whole before any work; each finished "
                                "configuration is stored, so a rerun resumes."),
    "targets": ("catalog", "targets", "List target profiles (datasheet peaks, bandwidth, memory) for roofline "
                                      "predictions and qualification."),
    "train-bench": ("profiling", "train_bench_cmd", "Fine-tuning cost of a reference preset: step time, samples/s, "
                                                    "time per epoch, peak memory, MFU and convergence, with the loss "
                                                    "its family trains with, on a seeded synthetic dataset."),
}


class LazyGroup(Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str):
        if name not in COMMANDS:
            return None
        module, function, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing from COMMANDS (importing each command's module to read its help would load them all)."""
        width = formatter.width - 6 - max(map(len, COMMANDS))
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(width))
                                for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployprof")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug logs).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress, tables or warning list: the closing line (headline, verdict) and errors only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Deployment profiler for Vision-Language-Action robot policies."""
    ctx.meta["verbose"] = verbose
    ctx.meta["quiet"] = quiet   # cli_options.terminal() tells the renderer
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    for stream in (sys.stdout, sys.stderr):   # a path holding a byte that is not UTF-8 is printed escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="deployprof")


if __name__ == "__main__":
    main()
