"""Command line. Each command parses options and calls one library function; errors become one line."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .errors import DeployprofError


class Group(click.Group):
    """The one place errors become exit codes: a DeployprofError is one `error:` line (exit 1); anything else is
    a bug, still one line unless -v asks for the traceback; Ctrl-C is `error: interrupted` (exit 130), also when a
    library caught the KeyboardInterrupt and raised something else (torch's exporter does)."""

    def invoke(self, ctx: click.Context):
        interrupted: list[bool] = []

        def on_sigint(signum, frame):
            interrupted.append(True)
            raise KeyboardInterrupt

        import signal
        import threading

        previous = signal.getsignal(signal.SIGINT)
        own = previous is signal.default_int_handler and threading.current_thread() is threading.main_thread()
        if own:  # a SIGINT the caller chose to ignore (nohup, `cmd &`) stays ignored
            signal.signal(signal.SIGINT, on_sigint)
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BaseException as exc:
            if interrupted or isinstance(exc, KeyboardInterrupt):
                click.echo("error: interrupted (an output folder being written is marked INCOMPLETE)", err=True)
                ctx.exit(130)
            if isinstance(exc, DeployprofError):
                lines = str(exc).splitlines() or [type(exc).__name__]
                click.echo(f"error: {lines[0]}", err=True)
                if ctx.meta.get("verbose") and len(lines) > 1:
                    click.echo("\n".join(lines[1:]), err=True)
                ctx.exit(1)
            if not isinstance(exc, Exception):  # SystemExit, GeneratorExit: not ours to reword
                raise
            if ctx.meta.get("verbose"):
                import traceback
                traceback.print_exc()
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            click.echo(f"error: internal error ({type(exc).__name__}: {first}); this is a deployprof bug, please "
                       "report it with the command (-v prints the traceback)", err=True)
            ctx.exit(1)
        finally:
            if own:
                signal.signal(signal.SIGINT, previous)


class Finite(click.ParamType):
    """A finite float within [lo, hi] (click's FloatRange lets nan through)."""
    name = "number"

    def __init__(self, lo: Optional[float] = None, hi: Optional[float] = None, open_lo: bool = False):
        self.lo, self.hi, self.open_lo = lo, hi, open_lo

    def convert(self, value, param, ctx):
        import math
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v) or (self.lo is not None and (v < self.lo or (self.open_lo and v == self.lo))) \
                or (self.hi is not None and v > self.hi):
            lo = "" if self.lo is None else f"{'>' if self.open_lo else '>='} {self.lo:g}"
            hi = "" if self.hi is None else f"<= {self.hi:g}"
            self.fail(f"{value!r} must be a finite number {' and '.join(x for x in (lo, hi) if x)}", param, ctx)
        return v


POSITIVE = Finite(0, open_lo=True)
COUNT = click.IntRange(min=1)


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True)


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployprof")
@click.option("-v", "--verbose", count=True, help="More detail (-vv for debug logs).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Deployment profiler for Vision-Language-Action robot policies."""
    ctx.meta["verbose"] = verbose
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s")


@cli.command()
def backends() -> None:
    """List every backend with whether it can run here, and why not."""
    from rich.table import Table

    from .backends import BACKENDS

    t = Table(title="Backends")
    for col in ("backend", "available", "detail"):
        t.add_column(col)
    warnings = []
    for name, cls in BACKENDS.items():
        a = cls.availability()
        t.add_row(name, "yes" if a.ok else "no", a.reason)
        if a.warning and a.warning not in warnings:
            warnings.append(a.warning)
    from rich.console import Console
    Console(width=160).print(t)
    for w in warnings:
        _stderr_console().print(f"[bold red]warning[/bold red]: {w}", highlight=False)


@cli.command()
def models() -> None:
    """List the reference VLA presets with parameter counts and stage structure."""
    from rich.console import Console
    from rich.table import Table

    from .presets import list_presets

    t = Table(title="Reference presets (random weights, real structure)")
    for col in ("preset", "family", "params", "stages (calls per policy step)", "description"):
        t.add_column(col)
    try:
        from .vla import count_parameters
    except ImportError:
        count_parameters = None
    for p in list_presets():
        if count_parameters is not None:
            from .vla import build_stages

            build = build_stages(p, device="meta")
            params = f"{sum(count_parameters(p).values()) / 1e6:,.1f} M"
            shape = "x".join(str(d) for d in build.action_shape[1:])
            stages = ", ".join(f"{c.stage} x{c.repeat}" for c in build.schedule) + f" -> {build.action_output} {shape}"
        else:
            params, stages = "(needs torch)", "(needs torch)"
        t.add_row(p.name, p.family, params, stages, p.config["description"])
    Console(width=180).print(t)


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


def _shape_options(f):
    f = click.option("--dim", "dims", multiple=True, metavar="NAME=N", help="Bind a symbolic dimension (repeatable).")(f)
    f = click.option("--shape", "shapes", multiple=True, metavar="INPUT=AxBxC", help="Bind an input's shape (repeatable).")(f)
    return f


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@_shape_options
@click.option("--per-node", is_flag=True, help="Include every node's cost.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--strict", is_flag=True, help="Unknown ops or unresolved shapes are an error, not a lower bound.")
def flops(model: Path, dims, shapes, per_node: bool, as_json: bool, strict: bool) -> None:
    """Count MACs, FLOPs, parameters and memory of an ONNX file or export folder, without loading weights."""
    from .flops.summary import assumed_note, summarize
    from .graph import parse_dim_bindings, parse_shape_bindings

    summary, reports, calls = summarize(model, parse_dim_bindings(dims), parse_shape_bindings(shapes), per_node, strict)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    from rich.console import Console

    from .report.terminal import flops_table, op_table

    console = Console(width=160)
    console.print(flops_table(reports, summary.get("policy_step_flops_total"), calls))
    console.print(op_table(summary["by_op_type"]))
    if summary.get("kv_cache_bytes"):
        console.print(f"KV cache (tensors marked kv_cache in the manifest): {summary['kv_cache_bytes']:,} bytes")
    if per_node:
        from .report.terminal import node_table
        for name, r in reports.items():
            console.print(node_table(name, r))
    for name, r in reports.items():
        for op, n in r.unknown_ops.items():
            console.print(f"[yellow]unknown op[/yellow] {op} x{n} in {name}: not counted (total is a lower bound)")
        for u in r.unresolved_nodes[:20]:
            console.print(f"[yellow]unresolved[/yellow] {name}: {u}")
    if summary["assumed_dims"]:
        console.print(f"[yellow]note[/yellow]: {assumed_note(summary['assumed_dims'])}")


def _measure_options(f):
    opts = [
        click.option("--iterations", type=COUNT, default=None, help="Timed iterations (default: run for --duration)."),
        click.option("--duration", type=POSITIVE, default=None, help="Seconds of timed iterations (default 2)."),
        click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Warm-up iterations (at least)."),
        click.option("--warmup-time", type=Finite(0), default=0.2, show_default=True, help="Warm-up seconds (at least)."),
        click.option("--batch", "batches", default="1", show_default=True,
                     help="Batch size(s) bound to the 'batch' axis, comma-separated (e.g. 1,2,4,8)."),
        click.option("--concurrency", type=COUNT, default=1, show_default=True,
                     help="Requests in flight at once (threads sharing one session)."),
        click.option("--rate", "rate_hz", type=POSITIVE, default=None,
                     help="Control-loop mode: one request per tick at this rate (Hz); reports deadline misses."),
        click.option("--idle-gaps", default="", help="With --rate: seconds of idle before probe requests, e.g. 0.5,2."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed for generated inputs."),
        click.option("--inputs", "inputs_npz", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Inputs from an .npz file instead of generated ones."),
        click.option("--threads", type=COUNT, default=None, help="ONNX Runtime intra-op threads."),
        click.option("--inter-threads", type=COUNT, default=None, help="ONNX Runtime inter-op threads (parallel mode)."),
        click.option("--execution-mode", type=click.Choice(["sequential", "parallel"]), default="sequential", show_default=True),
        click.option("--graph-opt", type=click.Choice(["disable", "basic", "extended", "all"]), default="all", show_default=True),
        click.option("--provider-option", "provider_options", multiple=True, metavar="KEY=VALUE",
                     help="Pass an option to the execution provider (e.g. enable_cuda_graph=1)."),
        click.option("--torch-device", default="cpu", show_default=True, help="Device for the torch backend (cpu, cuda, cuda:1)."),
        click.option("--allow-fallback", is_flag=True, help="Record, instead of refusing, a provider that fell back to the CPU."),
        click.option("--in-process", is_flag=True, help="Measure in this process (default: a fresh process per backend)."),
        click.option("--no-telemetry", is_flag=True, help="Do not sample power/clocks/temperature (tegrastats, jtop, NVML)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return _shape_options(f)


def _precision_options(f):
    opts = [
        click.option("--calibration", type=click.Path(exists=True), default=None,
                     help="INT8 calibration data: an .npz of policy inputs or a folder of them (default: generated, seeded)."),
        click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
                     show_default=True),
        click.option("--calibration-samples", type=COUNT, default=8, show_default=True, help="Policy steps to calibrate on."),
        click.option("--atol", type=Finite(0), default=None, help="Accuracy: fail when max |action - FP32 action| exceeds this."),
        click.option("--min-cosine", type=Finite(-1, 1), default=None, help="Accuracy: fail when action cosine similarity drops below."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _calib(o: dict):
    from .precision import CalibrationConfig

    return CalibrationConfig(method=o["calibration_method"], samples=o["calibration_samples"], seed=o.get("seed", 0),
                             source=o["calibration"])


def _precisions(text: str) -> list[str]:
    from .errors import ConfigError
    from .precision import PRECISIONS

    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in PRECISIONS]
    if bad or not values:
        raise ConfigError(f"--precisions expects a comma list of {', '.join(PRECISIONS)}, got {text!r}")
    return values


def _spec(backend: str, target: str, o: dict):
    from .backends import BackendOptions
    from .errors import ConfigError
    from .graph import parse_dim_bindings, parse_shape_bindings
    from .measure.harness import MeasureConfig
    from .runner import RunSpec

    popts = {}
    for item in o["provider_options"]:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"--provider-option expects KEY=VALUE, got {item!r}")
        popts[k] = v
    dims = parse_dim_bindings(o["dims"])
    if "batch" in dims:
        raise ConfigError("set the batch axis with --batch, not --dim batch=N")
    try:
        gaps = tuple(float(g) for g in o["idle_gaps"].split(",") if g.strip())
    except ValueError:
        raise ConfigError(f"--idle-gaps expects seconds separated by commas, got {o['idle_gaps']!r}") from None
    return RunSpec(
        target=target, backend=backend,
        options=BackendOptions(intra_op_threads=o["threads"], inter_op_threads=o["inter_threads"],
                               execution_mode=o["execution_mode"], graph_optimization=o["graph_opt"],
                               provider_options=popts, allow_fallback=o["allow_fallback"], torch_device=o["torch_device"]),
        measure=MeasureConfig(warmup_iterations=o["warmup"], warmup_min_s=o["warmup_time"], iterations=o["iterations"],
                              duration_s=o["duration"]),
        seed=o["seed"], dims=dims, shapes=parse_shape_bindings(o["shapes"]),
        inputs_npz=o["inputs_npz"], concurrency=o["concurrency"], rate_hz=o["rate_hz"], idle_gaps_s=gaps,
        telemetry=not o["no_telemetry"])


def _batches(text: str) -> list[int]:
    from .errors import ConfigError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ConfigError(f"--batch expects positive integers separated by commas, got {text!r}")
    return values


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--backend", default="ort-cpu", show_default=True, help="One backend (see `deployprof backends`).")
@click.option("--precision", default="fp32", show_default=True,
              help="Prepare this precision from the FP32 model first (fp16, fp16-naive, int8, int8-dynamic).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_measure_options
@_precision_options
def bench(model: Path, backend: str, precision: str, as_json: bool, **o) -> None:
    """Measure one backend on an ONNX file or export folder: every stage, and the policy step."""
    import tempfile

    from .pipeline import bench as run_bench
    from .precision import prepare_precision
    from .report.terminal import bench_json

    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        target = str(prepare_precision(model, _precisions(precision)[0], Path(tmp) / precision, _calib(o)))
        runs = run_bench(_spec(backend, target, o), _batches(o["batches"]), in_process=o["in_process"],
                         say=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(bench_json(runs), indent=1))
        return
    from rich.console import Console

    from .report.terminal import print_control, runs_table
    console = Console(width=200)
    console.print(runs_table(runs))
    for r in runs:
        if r.control:
            print_control(r, console)


@cli.command()
@click.argument("target")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, export/).")
@click.option("--backends", "backend_names", multiple=True, default=("ort-cpu",), show_default=True,
              help="Comma-separated backends to measure.")
@click.option("--skip-unavailable", is_flag=True, help="Skip backends that cannot run here, with a warning.")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default=None)
@click.option("--precisions", default="fp32", show_default=True,
              help="Comma list: fp32, fp16, fp16-naive, int8, int8-dynamic (each measured, and compared with FP32).")
@click.option("--target", "target_profile", default=None,
              help="Target profile for the roofline (predicted vs measured): see `deployprof targets`; `cpu` for this machine.")
@_measure_options
@_precision_options
def profile(target: str, out: Path, backend_names, skip_unavailable: bool, exporter, precisions: str,
            target_profile: Optional[str], **o) -> None:
    """Export (for a preset), count, and measure each backend; write OUT/report.json and print a summary."""
    from .pipeline import profile as run_profile
    from .report.progress import PhaseBar
    from .report.terminal import print_profile

    spec = _spec("ort-cpu", target, o)
    with PhaseBar(_stderr_console()) as bar:
        report = run_profile(target, out, _split(backend_names), spec_template=spec, batches=_batches(o["batches"]),
                             precisions=_precisions(precisions), calib=_calib(o), atol=o["atol"], min_cosine=o["min_cosine"],
                             skip_unavailable=skip_unavailable, in_process=o["in_process"], exporter=exporter,
                             say=bar, plan=bar.plan, target_profile=target_profile)
    from rich.console import Console
    print_profile(report, Console(width=200))
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")


@cli.command("compare-precision")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--precisions", default="fp16,int8", show_default=True, help="Comma list of precisions to compare with FP32.")
@click.option("--samples", type=COUNT, default=8, show_default=True, help="Seeded policy steps to compare on.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Keep the prepared exports here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_precision_options
@click.pass_context
def compare_precision(ctx, target: Path, precisions: str, samples: int, out: Optional[Path], as_json: bool, **o) -> None:
    """Accuracy alone: each precision's actions against the FP32 export on the same seeded inputs and noise.
    Exit 3 when --atol / --min-cosine are given and a precision fails them."""
    from .pipeline import compare_precisions
    from .results import to_dict

    results = compare_precisions(target, _precisions(precisions), samples=samples, out=out, calib=_calib(o),
                                 atol=o["atol"], min_cosine=o["min_cosine"])
    if as_json:
        click.echo(json.dumps([to_dict(r) for r in results], indent=1))
    else:
        from rich.console import Console

        from .report.terminal import accuracy_table
        Console(width=160).print(accuracy_table(results))
    if any(r.passed is False for r in results):
        ctx.exit(3)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def report(folder: Path) -> None:
    """Re-render report.md and report.html (and the terminal summary) from FOLDER/report.json alone."""
    from rich.console import Console

    from .report.render import render_all
    from .report.terminal import print_profile
    from .results import ProfileReport

    path = folder / "report.json" if folder.is_dir() else folder
    rep = ProfileReport.read(path)
    print_profile(rep, Console(width=200))
    for p in render_all(rep, path.parent).values():
        click.echo(f"wrote {p}")


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--fail-on-regression", "threshold", type=Finite(0), default=None, metavar="PCT",
              help="Exit 3 when a run is slower by more than PCT percent with the confidence intervals apart.")
@click.option("--metric", "metrics", default="p50,p99", show_default=True, help="Percentiles to compare (p50, p90, p95, p99).")
@click.option("--ignore", "ignore", default="", help="Run fields not to match on: backend, precision, batch (comma list).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def compare(ctx, a: Path, b: Path, threshold: Optional[float], metrics: str, ignore: str, as_json: bool) -> None:
    """Compare two reports (another device, commit or precision): deltas with confidence intervals, regressions
    flagged only when the intervals do not overlap. Exit 3 with --fail-on-regression when one exceeds PCT."""
    from .errors import ConfigError
    from .report.compare import compare_reports, regressions
    from .results import ProfileReport, to_dict

    ms = tuple(_split((metrics,)))
    if not ms or any(m not in ("p50", "p90", "p95", "p99") for m in ms):
        raise ConfigError(f"--metric expects a comma list of p50, p90, p95, p99, got {metrics!r}")
    ra, rb = (ProfileReport.read(p / "report.json" if p.is_dir() else p) for p in (a, b))
    c = compare_reports(ra, rb, ms, tuple(_split((ignore,))))
    bad = regressions(c, threshold if threshold is not None else 0.0)
    if as_json:
        click.echo(json.dumps({**to_dict(c), "regressions": [{"run": list(r.key), "metric": m.metric, "delta_pct": m.delta_pct}
                                                             for r, m in bad]}, indent=1))
    else:
        from rich.console import Console

        from .report.terminal import comparison_table
        console = Console(width=200)
        console.print(comparison_table(c))
        for line in c.context:
            console.print(f"  differs: {line}")
        for k in c.only_a:
            console.print(f"  only in A: {k}")
        for k in c.only_b:
            console.print(f"  only in B: {k}")
        if not c.runs:
            console.print("[yellow]no runs matched[/yellow]: try --ignore precision (or backend, batch)")
        verdict = (f"[red]{len(bad)} regression(s) over {threshold:g}%[/red]" if bad and threshold is not None
                   else f"{len(bad)} statistically meaningful slowdown(s)" if bad else "no statistically meaningful slowdown")
        console.print(verdict)
    if threshold is not None and bad:
        ctx.exit(3)


@cli.command()
def targets() -> None:
    """List target profiles (datasheet peaks, bandwidth, memory) for roofline predictions and qualification."""
    from rich.console import Console
    from rich.table import Table

    from .targets import list_targets, load_target_profile

    t = Table(title="Target profiles (dense peaks; NAME@MODE for a Jetson power mode; or a path to your own YAML)")
    for col in ("target", "FP32/TF32", "FP16", "INT8", "GB/s", "memory", "DLA", "power modes", "TensorRT"):
        t.add_column(col, justify="left" if col in ("target", "power modes", "TensorRT") else "right")
    for name in list_targets():
        if name == "cpu":
            t.add_row("cpu", "(this machine, measured when used)", "", "", "", "", "", "", "")
            continue
        p = load_target_profile(name)
        t.add_row(name, f"{p.peak('fp32'):g}", f"{p.peak('fp16'):g}", f"{p.peak('int8'):g}", f"{p.memory_bandwidth_gbs:g}",
                  f"{p.memory_gib:g} GiB" + (" unified" if p.unified_memory else ""), str(p.dla_cores),
                  ", ".join(p.power_modes) or "-", p.typical_tensorrt or "-")
    Console(width=200).print(t)


@cli.command()
@click.argument("export_dir", type=click.Path(path_type=Path))
@click.option("--target", "target_name", required=True, help="Target profile (see `deployprof targets`), NAME@MODE or YAML.")
@click.option("--precisions", default="fp32,fp16,int8", show_default=True)
@click.option("--batch", type=COUNT, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def predict(export_dir: Path, target_name: str, precisions: str, batch: int, as_json: bool) -> None:
    """Roofline floor per stage and per policy step, and memory needed, for an export on a target (no run needed;
    shapes-only full-size exports work)."""
    from .qualify.roofline import predict_export
    from .results import to_dict
    from .targets import load_target_profile

    preds = predict_export(export_dir, load_target_profile(target_name), _precisions(precisions), batch)
    if as_json:
        click.echo(json.dumps([to_dict(p) for p in preds], indent=1))
        return
    from rich.console import Console

    from .report.terminal import roofline_table
    console = Console(width=200)
    for p in preds:
        console.print(roofline_table(p))


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), required=True,
              help="Qualification spec (YAML); the smallest is `latency_ms: {p99: 50}`.")
@click.option("--target", "target_name", default=None, help="Target profile (overrides the spec's `target:`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.pass_context
def qualify(ctx, source: Path, spec_path: Path, target_name: Optional[str], as_json: bool) -> None:
    """Verdict of a spec against a measured REPORT (report.json or its folder), or, predicted from the roofline,
    against an EXPORT_DIR. Exit 0 PASS, 3 FAIL or INCONCLUSIVE, 1 error."""
    from .qualify.verdict import qualify_source
    from .results import to_dict

    q = qualify_source(spec_path, source, target_name)
    if as_json:
        click.echo(json.dumps(to_dict(q), indent=1))
    else:
        from rich.console import Console

        from .report.terminal import qualification_tables
        qualification_tables(q, Console(width=200))
    if q.status != "PASS":
        ctx.exit(3)


@cli.command("train-bench")
@click.argument("preset")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (report.json, .md, .html).")
@click.option("--batch", type=COUNT, default=8, show_default=True)
@click.option("--steps", type=COUNT, default=30, show_default=True, help="Training steps (warm-up included).")
@click.option("--warmup-steps", type=click.IntRange(min=0), default=3, show_default=True, help="Steps left out of the step-time statistics.")
@click.option("--dataset-size", type=COUNT, default=256, show_default=True, help="Synthetic samples (for time per epoch).")
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default="adamw", show_default=True)
@click.option("--lr", type=POSITIVE, default=1e-3, show_default=True)
@click.option("--mixed-precision", is_flag=True, help="bf16 autocast on CPU, fp16 autocast with grad scaling on CUDA.")
@click.option("--grad-checkpointing", is_flag=True, help="Recompute each stage's activations in the backward pass.")
@click.option("--freeze-vision", is_flag=True, help="Freeze the vision encoder (fine-tune the rest).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1.")
@click.option("--converge-fraction", type=Finite(0, 1, open_lo=True), default=0.5, show_default=True,
              help="Converged when the loss (3-step mean) falls below this fraction of the first step's...")
@click.option("--loss-threshold", type=POSITIVE, default=None, help="...or below this absolute value.")
@click.option("--target", "target_name", default=None, help="Target profile for model FLOPs utilisation (e.g. cpu, h100-sxm).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def train_bench_cmd(preset: str, out: Path, target_name: Optional[str], **o) -> None:
    """Fine-tuning cost of a reference preset: step time, samples/s, time per epoch, peak memory, MFU and
    convergence, with the loss its family trains with, on a seeded synthetic dataset."""
    from rich.console import Console

    from .pipeline import train_profile
    from .report.progress import PhaseBar
    from .report.terminal import print_profile
    from .train import TrainConfig

    cfg = TrainConfig(**o)
    with PhaseBar(_stderr_console()) as bar:
        report = train_profile(preset, out, cfg, target_name, say=bar, plan=bar.plan)
    print_profile(report, Console(width=220))
    click.echo(f"report: {out / 'report.json'} (+ report.md, report.html)")


def main() -> None:
    cli(prog_name="deployprof")


if __name__ == "__main__":
    main()
