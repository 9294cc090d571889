"""Command line. Each command parses options and calls one library function; errors become one line."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .cli_options import (COUNT, Finite, Group, calibration, json_option, measure_options, precision_options,
                          reference_option, shape_options, train_options)
from .config import MeasureConfig, parse_precisions, split_list


def _emit(result) -> None:
    """A command's --json: its result in the one versioned envelope (docs/schema.json)."""
    import json

    from .results import document
    click.echo(json.dumps(document(result), indent=1))


def _progress():
    from .report.progress import PhaseBar
    from .report.terminal import stderr_console
    return PhaseBar(stderr_console())


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployprof")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug logs).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Deployment profiler for Vision-Language-Action robot policies."""
    ctx.meta["verbose"] = verbose
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--self-test/--no-self-test", "self_test", default=None,
              help="Build, run, compare and profile a 3-layer TensorRT engine (default: when TensorRT is usable here).")
@click.option("--device-id", type=click.IntRange(min=0), default=0, show_default=True, help="CUDA device for the self-test.")
def backends(self_test: Optional[bool], device_id: int) -> None:
    """List every backend with whether it can run here, and why not; with TensorRT, check it works end to end."""
    from .backends import BACKENDS
    from .errors import BackendUnavailableError
    from .report.terminal import print_backends, print_self_test
    print_backends()
    trt = BACKENDS.get("trt").availability()
    if self_test is False or (self_test is None and not trt.ok):
        return
    if not trt.ok:
        raise BackendUnavailableError(f"--self-test needs the trt backend: {trt.reason}")
    from .engine.selftest import run_self_test
    result = run_self_test("trt", device_id, say=logging.getLogger("deployprof.selftest").info)
    print_self_test(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@cli.command()
def models() -> None:
    """List the reference VLA presets with parameter counts and stage structure."""
    from .report.terminal import print_models
    print_models()


@cli.command()
def targets() -> None:
    """List target profiles (datasheet peaks, bandwidth, memory) for roofline predictions and qualification."""
    from .report.terminal import print_targets
    print_targets()


@cli.command()
@click.argument("preset", required=False)
@click.option("--module", "module_ref", default=None, metavar="PKG.MOD:FACTORY",
              help="Your own model: a callable returning (torch module, example inputs tuple or dict).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the ONNX stages and manifest.json.")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default=None,
              help="Force one torch.onnx exporter (default: dynamo, falling back to torchscript).")
@click.option("--weights", type=click.Choice(["auto", "real", "meta"]), default="auto", show_default=True,
              help="real: random fp32 weights, parity-checked; meta: shapes only, for counting; auto: meta above 4 GiB.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder (it is swapped out whole, never mixed).")
def export(preset: Optional[str], module_ref: Optional[str], out: Path, exporter: Optional[str], weights: str,
           force: bool) -> None:
    """Export a preset (name or YAML path), or your own model with --module, to one ONNX graph per stage,
    checked against PyTorch in ONNX Runtime."""
    from .export import export_module, export_preset

    if bool(preset) == bool(module_ref):
        raise click.UsageError("give a preset name/YAML or --module PKG.MOD:FACTORY (one of them)")
    if module_ref:
        manifest, timings = export_module(module_ref, out, exporter=exporter, force=force)
    else:
        manifest, timings = export_preset(preset, out, exporter=exporter, weights=weights, force=force)
    for s in manifest.stages:
        parity = f"parity max|err| {s.parity_max_abs_err:.2e}" if s.parity_max_abs_err is not None else "shapes only (no parity)"
        click.echo(f"{s.name:10s} {s.file:16s} {parity}  {timings[s.name]:.1f} s")
    click.echo(f"exporter: {manifest.exporter}; manifest: {out / 'manifest.json'}")


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@shape_options
@click.option("--per-node", is_flag=True, help="Include every node's cost.")
@json_option
@click.option("--strict", is_flag=True, help="Unknown ops or unresolved shapes are an error, not a lower bound.")
def flops(model: Path, dims, shapes, per_node: bool, as_json: bool, strict: bool) -> None:
    """Count MACs, FLOPs, parameters and memory of an ONNX file or export folder, without loading weights."""
    from .flops.summary import summarize
    from .graph import parse_dim_bindings, parse_shape_bindings

    summary = summarize(model, parse_dim_bindings(dims), parse_shape_bindings(shapes), per_node, strict)
    if as_json:
        return _emit(summary)
    from .report.terminal import print_flops
    print_flops(summary, per_node)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--backend", default="ort-cpu", show_default=True, help="One backend (see `deployprof backends`).")
@click.option("--precision", default="fp32", show_default=True,
              help="Prepare this precision from the FP32 model first (fp16, fp16-naive, int8, int8-dynamic).")
@json_option
@measure_options
@precision_options
def bench(model: Path, backend: str, precision: str, as_json: bool, **o) -> None:
    """Measure one backend on an ONNX file or export folder: every stage, and the policy step."""
    from .pipeline import bench as run_bench

    result = run_bench(str(model), backend, parse_precisions(precision)[0], MeasureConfig.from_options(o),
                       calibration(o), say=lambda line: click.echo(line, err=True))
    if as_json:
        return _emit(result)
    from .report.terminal import print_bench
    print_bench(result)


@cli.command()
@click.argument("subject")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, export/).")
@click.option("--backends", "backend_names", multiple=True, default=("ort-cpu",), show_default=True,
              help="Comma-separated backends to measure.")
@click.option("--skip-unavailable", is_flag=True, help="Skip backends that cannot run here, with a warning.")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default=None)
@click.option("--precisions", default="fp32", show_default=True,
              help="Comma list: fp32, fp16, fp16-naive, int8, int8-dynamic (each measured, and compared with FP32).")
@click.option("--target", "target_profile", default=None,
              help="Target profile for the roofline (predicted vs measured): see `deployprof targets`; `cpu` for this machine.")
@reference_option
@click.option("--accuracy-samples", type=click.IntRange(min=0), default=8, show_default=True,
              help="Seeded policy steps each configuration's actions are compared on (0: no accuracy).")
@measure_options
@precision_options
def profile(subject: str, out: Path, backend_names, skip_unavailable: bool, exporter, precisions: str,
            target_profile: Optional[str], reference: str, accuracy_samples: int, **o) -> None:
    """Export (for a preset), count, and measure each backend; write OUT/report.json and print a summary."""
    from .pipeline import profile as run_profile
    from .report.terminal import print_profile

    config = MeasureConfig.from_options(o)
    with _progress() as bar:
        report = run_profile(subject, out, split_list(backend_names), config=config, precisions=parse_precisions(precisions),
                             calib=calibration(o), atol=o["atol"], min_cosine=o["min_cosine"], reference=reference,
                             accuracy_samples=accuracy_samples, skip_unavailable=skip_unavailable, exporter=exporter, say=bar, plan=bar.plan,
                             target_profile=target_profile)
    print_profile(report)
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")


@cli.command("compare-precision")
@click.argument("export_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--precisions", default="fp16,int8", show_default=True, help="Comma list of precisions to compare.")
@click.option("--backend", default="ort-cpu", show_default=True, help="The backend each precision runs on.")
@reference_option
@click.option("--samples", type=COUNT, default=8, show_default=True, help="Seeded policy steps to compare on.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Keep the prepared exports here.")
@json_option
@precision_options
@click.pass_context
def compare_precision(ctx, export_dir: Path, precisions: str, backend: str, reference: str, samples: int,
                      out: Optional[Path], as_json: bool, **o) -> None:
    """Accuracy alone: each precision's actions on BACKEND against the reference's FP32 actions, on the same seeded
    inputs and noise. Exit 3 when --atol / --min-cosine are given and a precision fails them."""
    from .pipeline import compare_precisions

    result = compare_precisions(export_dir, parse_precisions(precisions), backend=backend, reference=reference,
                                samples=samples, out=out, calib=calibration(o), atol=o["atol"],
                                min_cosine=o["min_cosine"])
    if as_json:
        _emit(result)
    else:
        from .report.terminal import print_accuracy
        print_accuracy(result)
    if (o["atol"] is not None or o["min_cosine"] is not None) and any(a.verdict == "FAIL" for a in result.accuracy):
        ctx.exit(3)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def report(folder: Path) -> None:
    """Re-render report.md and report.html (and the terminal summary) from FOLDER/report.json alone."""
    from .report.render import render_all
    from .report.terminal import print_profile
    from .results import ProfileReport

    path = folder / "report.json" if folder.is_dir() else folder
    rep = ProfileReport.read(path)
    print_profile(rep)
    for p in render_all(rep, path.parent).values():
        click.echo(f"wrote {p}")


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--fail-on-regression", "threshold", type=Finite(0), default=None, metavar="PCT",
              help="Exit 3 when a run is slower by more than PCT percent with the confidence intervals apart.")
@click.option("--metric", "metrics", default="p50,p99", show_default=True, help="Percentiles to compare (p50, p90, p95, p99).")
@click.option("--ignore", "ignore", default="", help="Run fields not to match on: backend, precision, batch (comma list).")
@json_option
@click.pass_context
def compare(ctx, a: Path, b: Path, threshold: Optional[float], metrics: str, ignore: str, as_json: bool) -> None:
    """Compare two reports (another device, commit or precision): deltas with confidence intervals, regressions
    flagged only when the intervals do not overlap. Exit 3 with --fail-on-regression when one exceeds PCT."""
    from .report.compare import compare_paths

    c = compare_paths(a, b, tuple(split_list((metrics,))), tuple(split_list((ignore,))), threshold)
    if as_json:
        _emit(c)
    else:
        from .report.terminal import print_comparison
        print_comparison(c)
    if threshold is not None and c.regressions:
        ctx.exit(3)


@cli.command()
@click.argument("export_dir", type=click.Path(path_type=Path))
@click.option("--target", "target_name", required=True, help="Target profile (see `deployprof targets`), NAME@MODE or YAML.")
@click.option("--precisions", default="fp32,fp16,int8", show_default=True)
@click.option("--batch", type=COUNT, default=1, show_default=True)
@json_option
def predict(export_dir: Path, target_name: str, precisions: str, batch: int, as_json: bool) -> None:
    """Roofline floor per stage and per policy step, and memory needed, for an export on a target (no run needed;
    shapes-only full-size exports work)."""
    from .qualify.roofline import predict_export

    result = predict_export(export_dir, target_name, parse_precisions(precisions), batch)
    if as_json:
        return _emit(result)
    from .report.terminal import print_predictions
    print_predictions(result)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), required=True,
              help="Qualification spec (YAML); the smallest is `latency_ms: {p99: 50}`.")
@click.option("--target", "target_name", default=None, help="Target profile (overrides the spec's `target:`).")
@json_option
@click.pass_context
def qualify(ctx, source: Path, spec_path: Path, target_name: Optional[str], as_json: bool) -> None:
    """Verdict of a spec against a measured REPORT (report.json or its folder), or, predicted from the roofline,
    against an EXPORT_DIR. Exit 0 PASS, 3 FAIL or INCONCLUSIVE, 1 error."""
    from .qualify.verdict import qualify_source

    q = qualify_source(spec_path, source, target_name)
    if as_json:
        _emit(q)
    else:
        from .report.terminal import print_qualification
        print_qualification(q)
    if q.status != "PASS":
        ctx.exit(3)


@cli.command("train-bench")
@click.argument("preset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, .md, .html).")
@train_options
def train_bench_cmd(preset: str, out: Path, target_name: Optional[str], **o) -> None:
    """Fine-tuning cost of a reference preset: step time, samples/s, time per epoch, peak memory, MFU and
    convergence, with the loss its family trains with, on a seeded synthetic dataset."""
    from .pipeline import train_profile
    from .report.terminal import console, print_profile
    from .train import TrainConfig

    with _progress() as bar:
        report = train_profile(preset, out, TrainConfig(**o), target_name, say=bar, plan=bar.plan)
    print_profile(report, console(220))
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")


def main() -> None:
    cli(prog_name="deployprof")


if __name__ == "__main__":
    main()
