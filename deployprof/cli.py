"""Command line. Each command parses options and calls one library function; errors become one line."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .cli_options import (COUNT, Finite, Group, emit_json, export_options, force_option, json_option, measure_options, precision_options,
                          profile_options, reference_option, shape_options, store_from, store_options, train_options,
                          within)
from .config import (AccuracyConfig, CalibrationConfig, MeasureConfig, Settings, parse_dim_bindings, parse_precisions,
                     parse_shape_bindings, split_list)
from .errors import BackendUnavailableError, ConfigError, DeployprofError
from .lerobot import is_checkpoint
from .qualify.spec import EXAMPLE
from .report.progress import PhaseBar


def _emit(result) -> None:
    """A command's --json: its result in the one versioned envelope (docs/schema.json)."""
    import json

    from .results import document
    emit_json(json.dumps(document(result), indent=1))


def _store(result, options) -> None:
    """Append to the results store after the command's own output exists; failing to is a warning."""
    from .store import record

    record(result, options, say=lambda line: click.echo(line, err=True))


def _progress(live: bool = True):
    """live=False where the timed work runs in this very process (--in-process, precision-debug, train-bench): the
    bar then moves between phases only."""
    from .report.terminal import stderr_console
    return PhaseBar(stderr_console(), live=live)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployprof")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug logs).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress, tables or warning list: the closing line (headline, verdict) and errors only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Deployment profiler for Vision-Language-Action robot policies."""
    ctx.meta["verbose"] = verbose
    if quiet or "deployprof.report.terminal" in sys.modules:  # rich loads only for commands that print tables
        from .report import terminal
        terminal.QUIET = quiet
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--self-test/--no-self-test", "self_test", default=None,
              help="Build, run, compare and profile a 3-layer TensorRT engine (default: when TensorRT is usable here).")
@click.option("--device", default="cuda:0", show_default=True, metavar="cuda:N", help="The GPU of the self-test.")
def backends(self_test: Optional[bool], device: str) -> None:
    """List every backend with whether it can run here, and why not; with TensorRT, check it works end to end."""
    from .backends import BACKENDS
    from .report.terminal import print_backends, print_self_test
    print_backends()
    trt = BACKENDS.get("trt").availability()
    if self_test is False or (self_test is None and not trt.ok):
        return
    if not trt.ok:
        raise BackendUnavailableError(f"--self-test needs the trt backend: {trt.reason}")
    from .engine.selftest import run_self_test
    result = run_self_test("trt", device, say=logging.getLogger("deployprof.selftest").info)
    print_self_test(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--target", "target_name", default=None,
              help="Target profile to compare with (a GPU or Jetson needs one; a CPU is compared with its own estimate).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@json_option
@click.pass_context
def doctor(ctx, target_name: Optional[str], device: str, as_json: bool) -> None:
    """Is this machine at spec? GEMM and copy ceilings measured on the device beside the target's datasheet (and a
    Jetson's power mode and clocks). Exit 3 when below 70% of the datasheet."""
    from .doctor import doctor as run_doctor

    result = run_doctor(target_name, device)
    if as_json:
        _emit(result)
    else:
        from .report.terminal import print_selfcheck
        print_selfcheck(result)
    if result.at_spec is False:
        ctx.exit(3)


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
    from .export import export_module_isolated, export_preset

    if preset and lerobot_dir is None and is_checkpoint(Path(preset)):
        preset, lerobot_dir = None, Path(preset)
    if sum(x is not None for x in (preset, module_ref, lerobot_dir)) != 1:
        raise click.UsageError("give a preset name/YAML, --module PKG.MOD:FACTORY or --lerobot DIR (one of them)")
    if lerobot_dir is not None:
        from .lerobot.export import export_lerobot

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


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@shape_options
@click.option("--per-node", is_flag=True, help="Include every node's cost.")
@json_option
@click.option("--strict", is_flag=True, help="Unknown ops or unresolved shapes are an error, not a lower bound.")
def flops(model: Path, dim, shape, per_node: bool, as_json: bool, strict: bool) -> None:
    """Count MACs, FLOPs, parameters and memory of an ONNX file or export folder, without loading weights."""
    from .flops.summary import summarize

    summary = summarize(model, parse_dim_bindings(dim), parse_shape_bindings(shape), per_node, strict)
    if as_json:
        return _emit(summary)
    from .report.terminal import print_flops
    print_flops(summary, per_node)


@cli.command()
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
    from .pipeline import bench as run_bench

    stored = store_from(o)
    with _progress(live=not o["in_process"]) as bar:
        result = run_bench(str(model), backend, parse_precisions(precision)[0] if precision else None,
                           MeasureConfig.from_options(o), CalibrationConfig.from_options(o), say=bar, phases=bar.plan)
    if as_json:
        _emit(result)
    else:
        from .report.terminal import print_bench
        print_bench(result)
    _store(result, stored)


@cli.command()
@click.argument("subject")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, export/).")
@click.option("--backends", "backend_names", multiple=True, default=("ort-cpu",), show_default=True,
              help="Comma-separated backends to measure.")
@click.option("--skip-unavailable", is_flag=True, help="Skip backends that cannot run here, with a warning.")
@click.option("--precisions", default="fp32", show_default=True,
              help="Comma list: fp32, fp16, fp16-naive, int8, int8-dynamic, int8-mixed, fp16-mixed (each measured, and "
                   "compared with FP32; a -mixed one is found first by precision-debug's search, on ort-cpu).")
@click.option("--target", "target_profile", default=None,
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
            target_profile: Optional[str], interleave: bool, force: bool, **o) -> None:
    """Export (a preset or a LeRobot checkpoint folder), count, and measure each backend; write OUT/report.json and
    print a summary."""
    from .pipeline import plan_profile, profile as run_profile
    from .report.terminal import print_profile

    stored = store_from(o)
    settings = Settings.from_options(o)
    with _progress(live=not o["in_process"]) as bar:
        plan = plan_profile(subject, split_list(backend_names), settings, precisions=parse_precisions(precisions),
                            skip_unavailable=skip_unavailable, target_profile=target_profile, interleave=interleave,
                            say=bar)
        report = run_profile(plan, out, say=bar, phases=bar.plan, force=force)
    print_profile(report)
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")
    _store(report, stored)


@cli.command("compare-precision")
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
    from .pipeline import compare_precisions

    result = compare_precisions(export_dir, parse_precisions(precisions), backend=backend,
                                accuracy=AccuracyConfig.from_options(o, samples), out=out,
                                calib=CalibrationConfig.from_options(o), force=force)
    if as_json:
        _emit(result)
    else:
        from .report.terminal import print_accuracy
        print_accuracy(result)
    if any(a.verdict != "PASS" for a in result.accuracy):
        ctx.exit(3)


@cli.command("precision-debug")
@click.argument("export_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--precision", type=click.Choice(["int8", "fp16"]), required=True, help="The low precision to debug.")
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
    from .precision.debug import debug_precision

    from .report.render import render_precision_debug

    with _progress(live=False) as bar:
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
        _emit(result)
    else:
        from .report.terminal import print_precision_debug
        print_precision_debug(result)
    if not result.passed:
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
    problems = render_all(rep, path.parent)
    try:
        print_profile(rep)
    except (OSError, DeployprofError):
        raise
    except Exception as exc:  # the files are written; the summary is one view of them
        problems.append(f"the terminal summary failed ({type(exc).__name__}: {str(exc)[:200]})")
    for name in ("report.md", "report.html"):
        if not any(p.startswith(name) for p in problems):
            click.echo(f"wrote {path.parent / name}")
    for p in problems:
        click.echo(f"warning: {p}", err=True)


@cli.command()
@click.argument("reports", nargs=-1, type=click.Path(path_type=Path))
@click.option("--baseline", default=None, metavar="store:QUERY",
              help="Compare RUN against the stored history matching QUERY (key=value,...: subject, backend, "
                   "precision, batch, device, commit, since; default: RUN's policy on RUN's device): the newest stored "
                   "profile, judged against the spread of the newest stored runs. A regression exits 3 (a CI gate).")
@click.option("--store", "store_where", default=None, metavar="PATH|URL", help="The results store for --baseline.")
@click.option("--interleave", is_flag=True,
              help="A and B are exports (or .onnx files): re-measure both here, in alternating blocks in one window, "
                   "and judge the paired ratio (the comparison to trust on a shared machine).")
@click.option("--backend", default="ort-cpu", show_default=True, help="With --interleave: the backend both run on.")
@click.option("--max-duration", "max_s", type=Finite(0), default=60.0, show_default=True,
              help="With --interleave: seconds at most (it stops earlier once the interval decides).")
@click.option("--fail-on-regression", "threshold", type=Finite(0), default=None, metavar="PCT",
              help="Exit 3 when a run is slower by more than PCT percent with 95% confidence between runs.")
@click.option("--metric", "metrics", default="p50,p99", show_default=True, help="Percentiles to compare (p50, p90, p95, p99).")
@click.option("--ignore", "ignore", default="", help="Run fields not to match on: backend, precision, batch (comma list).")
@json_option
@click.pass_context
def compare(ctx, reports: tuple[Path, ...], baseline: Optional[str], store_where: Optional[str], interleave: bool,
            backend: str, max_s: float, threshold: Optional[float], metrics: str, ignore: str, as_json: bool) -> None:
    """Compare two reports A B (another device, commit or precision), one RUN against the stored history, or (with
    --interleave) two exports re-measured side by side. A change is judged by the spread between runs (repeats,
    stored history or interleaved blocks), never by one run's own intervals; without any, it is shown, not judged.
    Exit 3 with --fail-on-regression (or --baseline) when a run is slower by more than PCT with 95% confidence."""
    from .compare import compare_paths, compare_to_stored

    metric_list, ignored = tuple(split_list((metrics,))), tuple(split_list((ignore,)))
    if interleave:
        if baseline is not None or len(reports) != 2:
            raise ConfigError("compare --interleave takes two exports (or .onnx files) A B, and no --baseline")
        from .abtest import interleaved_compare
        c = interleaved_compare(reports[0], reports[1], backend, threshold, max_s)
    elif baseline is not None:
        if len(reports) != 1 or not baseline.startswith("store:"):
            raise ConfigError("compare --baseline store:QUERY takes one RUN (a report.json or its folder)")
        from .store import StoreOptions
        c = compare_to_stored(baseline[len("store:"):], reports[0], StoreOptions(where=store_where), metric_list,
                              ignored, threshold)
    else:
        if len(reports) != 2:
            raise ConfigError(f"compare takes two reports A B (or --baseline store:QUERY RUN), got {len(reports)}")
        c = compare_paths(reports[0], reports[1], metric_list, ignored, threshold)
    if as_json:
        _emit(c)
    else:
        from .report.terminal import print_comparison
        print_comparison(c)
    if (threshold is not None or baseline is not None) and c.regressions:
        ctx.exit(3)


@cli.command()
@click.option("--subject", "--preset", "subject", default=None, help="A preset name or model path, as profiled.")
@click.option("--backend", default=None)
@click.option("--precision", default=None)
@click.option("--batch", type=within("batch"), default=None)
@click.option("--device", default=None, help="Device name as recorded (GPU, Jetson model or CPU).")
@click.option("--commit", default=None)
@click.option("--kind", type=click.Choice(["profile", "bench"]), default=None, help="Results of `profile` or `bench` only.")
@click.option("--since", default=None, metavar="DATE", help="ISO date or time (UTC), e.g. 2026-11-01.")
@click.option("--limit", type=within("store_limit"), default=200, show_default=True, help="The newest N stored results.")
@click.option("--store", "store_where", default=None, metavar="PATH|URL", help="The results store to read.")
@click.option("--html", "html_path", type=click.Path(path_type=Path), default=None,
              help="Also write the trend plot (p50/p99 with CI bands, accuracy) to this HTML file.")
@json_option
def history(subject, backend, precision, batch, device, commit, kind, since, limit, store_where, html_path,
            as_json) -> None:
    """Stored results across commits, dates and devices: a table, and with --html a trend plot."""
    from .history import history as read_history, write_history_html
    from .store import StoreOptions

    filters = {k: v for k, v in dict(subject=subject, backend=backend, precision=precision, batch=batch,
                                     device=device, commit=commit, since=since, kind=kind).items() if v is not None}
    h = read_history(StoreOptions(where=store_where), filters, limit)
    if as_json:
        _emit(h)
    else:
        from .report.terminal import print_history
        print_history(h)
    if html_path is not None:
        click.echo(f"trend plot: {write_history_html(h, html_path)}", err=as_json)


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
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), default=None,
              help="Qualification spec (YAML); the smallest is `latency_ms: {p99: 50}`.")
@click.option("--example-spec", is_flag=True, help="Print a commented starter spec and exit.")
@click.option("--target", "target_name", default=None, help="Target profile (overrides the spec's `target:`).")
@click.option("--accept-board", is_flag=True,
              help="Judge latency even though the board failed its self-check when profiled (say why in your record).")
@json_option
@store_options
@click.pass_context
def qualify(ctx, source: Optional[Path], spec_path: Optional[Path], example_spec: bool, target_name: Optional[str],
            accept_board: bool, as_json: bool, **o) -> None:
    """Verdict of a spec against a measured REPORT (report.json or its folder), or, predicted from the roofline,
    against an EXPORT_DIR. Exit 0 PASS, 3 FAIL or INCONCLUSIVE, 1 error. --example-spec prints a starter spec."""
    from .qualify.verdict import qualify_source

    if example_spec:
        click.echo("# deployprof qualification spec: every key is optional; keep the criteria you need.\n" + EXAMPLE)
        return
    if source is None or spec_path is None:
        raise click.UsageError("qualify needs a SOURCE (report or export folder) and --spec SPEC.yaml "
                               "(--example-spec prints one to start from)")

    stored = store_from(o)
    q = qualify_source(spec_path, source, target_name, accept_board)
    if as_json:
        _emit(q)
    else:
        from .report.terminal import print_qualification
        print_qualification(q)
    _store(q, stored)
    if q.status != "PASS":
        ctx.exit(3)


@cli.command("train-bench")
@click.argument("preset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, .md, .html).")
@force_option
@train_options
@store_options
def train_bench_cmd(preset: str, out: Path, target_name: Optional[str], force: bool, **o) -> None:
    """Fine-tuning cost of a reference preset: step time, samples/s, time per epoch, peak memory, MFU and
    convergence, with the loss its family trains with, on a seeded synthetic dataset."""
    from .pipeline import train_profile
    from .report.terminal import print_profile
    from .train import TrainConfig

    stored = store_from(o)
    with _progress(live=False) as bar:
        report = train_profile(preset, out, TrainConfig(**o), target_name, say=bar, phases=bar.plan, force=force)
    print_profile(report)
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")
    _store(report, stored)


@cli.command()
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
    from .store import StoreOptions
    from .sweep import checked_sweep, run_sweep

    def warn(line: str) -> None:
        click.echo(f"warning: {line}", err=True)

    if dry_run:
        configurations = checked_sweep(sweep_file, ray_address, warn).configurations
        for c in configurations:
            click.echo(c.label())
        click.echo(f"{len(configurations)} configuration{'s' * (len(configurations) != 1)} valid; nothing run (--dry-run)")
        return
    with _progress() as bar:
        report = run_sweep(sweep_file, out, StoreOptions(where=store_where, commit=commit), say=bar, plan=bar.plan,
                           ray_address=ray_address, force=force, warn=warn)
    if as_json:
        _emit(report)
    else:
        from .report.terminal import print_sweep
        print_sweep(report)
        click.echo(f"sweep report: {out / 'sweep.html'} (+ sweep.json)")
    failed = [e for e in report.entries if e.status == "failed"]
    if failed:  # the report is written; the exit says the sweep is not whole
        click.echo(f"error: {len(failed)} of {len(report.entries)} configurations failed ({failed[0].backend} "
                   f"{failed[0].precision}: {failed[0].error}); sweep.json lists each reason", err=True)
        raise click.exceptions.Exit(1)


def main() -> None:
    for stream in (sys.stdout, sys.stderr):   # a path holding a byte that is not UTF-8 is printed escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="deployprof")


if __name__ == "__main__":
    main()
