"""`deployprof profile`: export (if given a preset) -> static cost -> each backend measured -> report.json."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .accuracy import compare
from .backends import BACKENDS, check_provider_options
from .environment import capture
from .errors import BackendUnavailableError
from .files import run_marked
from .flops.summary import policy_step_total, stage_reports
from .manifest import Manifest, load_target, sha256_file
from .precision import CalibrationConfig, prepare_precision
from .results import SCHEMA_VERSION, AccuracyResult, FlopReport, MeasureSettings, ModelInfo, ProfileReport, RunResult
from .runner import POLICY_STEP, RunSpec, run_backend
from .worker import run_isolated

log = logging.getLogger(__name__)


def resolve_target(target: str, out: Path, exporter: Optional[str] = None,
                   say: Callable[[str], None] = log.info) -> str:
    """A path (export folder or .onnx) is used as is; anything else is a preset, exported into out/export."""
    path = Path(target)
    if path.exists() and not (path.is_file() and path.suffix in (".yaml", ".yml")):
        return target
    from .export import export_preset

    say(f"exporting {target} to {out / 'export'}")
    export_preset(target, out / "export", exporter=exporter, force=True)  # this run's own folder
    return str(out / "export")


def check_backends(names: list[str], skip_unavailable: bool, say: Callable[[str], None]) -> tuple[list[str], list[str]]:
    usable, warnings = [], []
    for name in names:
        avail = BACKENDS.get(name).availability()
        if avail.warning and avail.warning not in warnings:
            warnings.append(avail.warning)
            say(f"warning: {avail.warning}")
        if avail.ok:
            usable.append(name)
        elif skip_unavailable:
            warnings.append(f"skipped backend {name}: {avail.reason}")
            say(f"warning: skipped backend {name}: {avail.reason}")
        else:
            hint = " (pass --skip-unavailable to profile the others)" if len(names) > 1 else ""
            raise BackendUnavailableError(f"backend {name} is unavailable: {avail.reason}{hint}")
    if not usable:
        raise BackendUnavailableError("none of the requested backends is available; see `deployprof backends`")
    return usable, warnings


def attach_flops(run: RunResult, flops: dict[str, FlopReport], step_flops: Optional[int]) -> RunResult:
    total = step_flops if run.target == POLICY_STEP else (flops[run.target].flops_total if run.target in flops else None)
    achieved = total / (run.latency.p50_ms / 1e3) / 1e9 if total and run.latency.p50_ms > 0 else None
    return dataclasses.replace(run, flops_per_run=total, achieved_gflop_per_s=achieved)


def run_warnings(runs: list[RunResult], flops: dict[str, FlopReport]) -> list[str]:
    out = []
    for r in runs:
        tag = f"{r.backend}/{r.precision} {r.target}"
        if r.build.fallback:
            out.append(f"{tag}: FALLBACK: asked for {r.build.providers_requested[0]}, ran on {list(r.build.providers_active)}")
        if r.build.speed_only:
            out.append(f"{tag}: SPEED ONLY: INT8 engine without calibration data or Q/DQ nodes; its latency is real, "
                       "its outputs are not (use --precisions int8 for a calibrated engine)")
        if r.telemetry is not None and r.telemetry.throttled:
            out.append(f"{tag}: THROTTLING or clock changes during the run ({'; '.join(r.telemetry.notes)})")
        elif r.telemetry is not None and r.telemetry.clocks_locked is False:
            out.append(f"{tag}: clocks not locked (sudo jetson_clocks): latency may vary with DVFS")
        if r.latency.noisy:
            out.append(f"{tag}: noisy run (IQR/median {r.latency.iqr_over_median:.1%}, drift {r.latency.drift_ratio:+.1%}); "
                       "close other load or run longer")
        if "p99" in r.latency.too_few_samples:
            out.append(f"{tag}: too few samples ({r.latency.count}) for a bounded p99 confidence interval; run longer")
    for name, f in flops.items():
        if f.lower_bound:
            out.append(f"{name}: FLOPs are a lower bound ({sum(f.unknown_ops.values())} unknown-op nodes, "
                       f"{len(f.unresolved_nodes)} unresolved)")
    return out


def _measure_all(target: str, names: list[str], template: RunSpec, batches: list[int], in_process: bool,
                 say: Callable[[str], None]) -> tuple[Manifest, Path, list[RunResult], dict[int, dict[str, FlopReport]]]:
    manifest, root = load_target(target)
    flops_by_batch = {b: stage_reports(manifest, root, b, template.dims, template.shapes) for b in batches}
    runs: list[RunResult] = []
    for name in names:
        for batch in batches:
            say(f"measuring {name}, batch {batch} ({'in process' if in_process else 'own process'})")
            spec = dataclasses.replace(template, target=target, backend=name, batch=batch)
            flops = flops_by_batch[batch]
            step = policy_step_total(manifest, root, flops, batch, template.dims) if len(manifest.stages) > 1 else None
            runs.extend(attach_flops(r, flops, step) for r in (run_backend(spec) if in_process else run_isolated(spec)))
    return manifest, root, runs, flops_by_batch


def prepare_variants(resolved: str, precisions: list[str], out: Path, calib: CalibrationConfig,
                     say: Callable[[str], None] = log.info) -> dict[str, str]:
    """Each precision's export folder, OUT/export-<precision> (FP32 is the given export itself)."""
    variants = {}
    for p in precisions:
        if p != "fp32":
            say(f"preparing {p} from the FP32 export" + (f" (calibrating, {calib.method})" if p == "int8" else ""))
        variants[p] = str(prepare_precision(resolved, p, out / f"export-{p}", calib))
    return variants


def _with_speedups(runs: list[RunResult]) -> list[RunResult]:
    base = {(r.backend, r.target, r.batch): r.latency.p50_ms for r in runs if r.precision == "fp32"}
    out = []
    for r in runs:
        ref = base.get((r.backend, r.target, r.batch))
        out.append(dataclasses.replace(r, speedup_vs_fp32=ref / r.latency.p50_ms) if ref and r.precision != "fp32" else r)
    return out


def precision_warnings(runs: list[RunResult], accuracy: list[AccuracyResult]) -> list[str]:
    out = []
    p50 = {(r.backend, r.target, r.batch, r.precision): r.latency for r in runs}
    whole = {r.target for r in runs if r.target == POLICY_STEP} or {r.target for r in runs}  # judge the whole step
    for (backend, target, batch, prec), lat in p50.items():
        if not prec.startswith("int8") or target not in whole:
            continue
        for other in ("fp16", "fp32"):
            o = p50.get((backend, target, batch, other))
            # Only when the confidence intervals do not overlap: a difference inside the noise is no finding.
            if o is not None and lat.ci_ms["p50"][0] > o.ci_ms["p50"][1]:
                out.append(f"{backend} {target}: {prec.upper()} is SLOWER than {other.upper()} "
                           f"(p50 {lat.p50_ms:.3f} vs {o.p50_ms:.3f} ms): layers fall back or Q/DQ overhead dominates")
    for a in accuracy:
        if a.passed is False:
            out.append(f"{a.precision}: accuracy FAILS the tolerance (max abs {a.action.max_abs:.4g}, "
                       f"min cosine {a.action.cosine_min:.5f})")
    return out


def profile(target: str, out: Path, backends: list[str], *, spec_template: RunSpec, batches: list[int] = (1,),
            precisions: list[str] = ("fp32",), calib: CalibrationConfig = CalibrationConfig(),
            atol: Optional[float] = None, min_cosine: Optional[float] = None,
            skip_unavailable: bool = False, in_process: bool = False, exporter: Optional[str] = None,
            say: Callable[[str], None] = log.info, plan: Callable[[int], None] = lambda n: None,
            target_profile: Optional[str] = None) -> ProfileReport:
    """say() announces each phase; plan() is told how many phases there will be (for a progress bar)."""
    out = Path(out)
    batches, precisions = list(batches), list(dict.fromkeys(["fp32", *precisions]))
    check_provider_options(backends, spec_template.options.provider_options)  # before any work
    usable, warnings = check_backends(backends, skip_unavailable, say)
    if not Path(target).exists() or Path(target).suffix in (".yaml", ".yml"):
        from .presets import load_preset

        load_preset(target)  # an unknown or broken preset fails here, before --out is touched
    with run_marked(out, f"deployprof profile {target}"):  # marked INCOMPLETE until the report is written
        is_preset = not Path(target).exists()
        plan(is_preset + 2 * (len(precisions) - 1) + 1 + len(usable) * len(batches) * len(precisions) + 1)
        resolved = resolve_target(target, out, exporter, say)
        if load_target(resolved)[0].static_only:
            say("warning: shapes-only export (no weights): counting FLOPs, measuring nothing")
            warnings.append("shapes-only export (weights without data): static cost only, no latency measured")
            usable, precisions = [], ["fp32"]
        variants = prepare_variants(resolved, precisions, out, calib, say)
        say("counting FLOPs")
        runs: list[RunResult] = []
        for p, path in variants.items():
            names = [n for n in usable if p in BACKENDS.get(n).artifact_precisions]
            manifest_p, _, runs_p, flops_by_batch_p = _measure_all(path, names, spec_template, batches, in_process, say)
            runs += runs_p
            if p == "fp32":
                manifest, root, flops_by_batch = manifest_p, load_target(path)[1], flops_by_batch_p
        accuracy = []
        for p, path in variants.items():
            if p != "fp32":
                say(f"accuracy of {p} against FP32")
                accuracy.append(compare(variants["fp32"], path, atol=atol, min_cosine=min_cosine))
        runs = _with_speedups(runs)
        flops = flops_by_batch[batches[0]]
        warnings += run_warnings(runs, flops) + precision_warnings(runs, accuracy)
        roofline = ()
        if target_profile:
            from .qualify.roofline import predict_measured
            from .targets import load_target_profile

            roofline = predict_measured(manifest, root, flops, runs, load_target_profile(target_profile), list(variants),
                                        batches[0], spec_template.dims)
        m = spec_template.measure
        report = ProfileReport(
            schema_version=SCHEMA_VERSION, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            model=ModelInfo(source=str(target), preset=manifest.preset, family=manifest.family,
                            stages=tuple(s.name for s in manifest.stages),
                            stage_sha256={s.name: sha256_file(root / s.file) for s in manifest.stages},
                            calls_per_step={s.name: s.calls_per_step for s in manifest.stages}, exporter=manifest.exporter),
            environment=capture(),
            settings=MeasureSettings(warmup_iterations=m.warmup_iterations, warmup_min_s=m.warmup_min_s,
                                     iterations=m.iterations, duration_s=m.duration_s, batches=tuple(batches),
                                     seed=spec_template.seed, in_process=in_process,
                                     concurrency=spec_template.concurrency, rate_hz=spec_template.rate_hz),
            flops=flops, policy_step_flops=(policy_step_total(manifest, root, flops, batches[0], spec_template.dims)
                                            if len(manifest.stages) > 1 else None),
            runs=tuple(runs), warnings=tuple(warnings), accuracy=tuple(accuracy),
            precision_info={p: load_target(v)[0].precision_info for p, v in variants.items() if p != "fp32"},
            roofline=roofline)
        say("writing report.json, report.md, report.html")
        report.write(out / "report.json")
        from .report.render import render_all

        render_all(report, out)
    return report


def compare_precisions(export: Path, precisions: list[str], *, samples: int = 8, out: Optional[Path] = None,
                       calib: CalibrationConfig = CalibrationConfig(), atol: Optional[float] = None,
                       min_cosine: Optional[float] = None) -> list[AccuracyResult]:
    """`compare-precision`: each precision's actions against FP32, the prepared exports kept under `out` if given."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        variants = prepare_variants(str(export), [p for p in precisions if p != "fp32"], Path(out or tmp), calib)
        return [compare(export, path, samples=samples, atol=atol, min_cosine=min_cosine) for path in variants.values()]


def bench(spec: RunSpec, batches: list[int] = (1,), in_process: bool = False,
          say: Callable[[str], None] = log.info) -> list[RunResult]:
    """One backend on an ONNX file or export folder, with FLOPs attached (no report written)."""
    check_provider_options([spec.backend], spec.options.provider_options)
    check_backends([spec.backend], False, say)
    return _measure_all(spec.target, [spec.backend], spec, list(batches), in_process, log.info)[2]


def train_profile(preset: str, out: Path, cfg, target_profile: Optional[str] = None,
                  say: Callable[[str], None] = log.info, plan: Callable[[int], None] = lambda n: None) -> ProfileReport:
    """`train-bench`: train on the synthetic task, then write OUT/report.json (+ .md, .html) like a profile."""
    from .presets import load_preset
    from .train import train_bench, with_mfu

    p = load_preset(preset)
    with run_marked(out, f"deployprof train-bench {preset}"):  # marked INCOMPLETE until the report is written
        plan(2)
        result = train_bench(preset, cfg, say=say)
        if target_profile:  # after training: the cpu profile's bandwidth probe must not land in the training peak RSS
            from .targets import load_target_profile

            result = with_mfu(result, load_target_profile(target_profile))
        report = ProfileReport(
            schema_version=SCHEMA_VERSION, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            model=ModelInfo(source=preset, preset=p.name, family=p.family, stages=(), stage_sha256={}, calls_per_step={}),
            environment=capture(),
            settings=MeasureSettings(warmup_iterations=cfg.warmup_steps, warmup_min_s=0.0, iterations=cfg.steps,
                                     duration_s=None, batches=(cfg.batch,), seed=cfg.seed, in_process=True),
            flops={}, policy_step_flops=None, runs=(), training=(result,))
        report.write(out / "report.json")
        from .report.render import render_all

        render_all(report, out)
    return report
