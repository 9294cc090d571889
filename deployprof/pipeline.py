"""The library behind each measuring command. `profile`: export (for a preset) -> precision variants -> static cost
(once per variant and batch) -> each backend launched -> accuracy -> report.json. The CLI only parses and renders."""
from __future__ import annotations

import dataclasses
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .accuracy import compare
from .backends import BACKENDS, check_provider_options
from .config import MeasureConfig
from .environment import capture
from .errors import BackendUnavailableError
from .files import run_marked
from .flops.summary import policy_step_total, stage_reports
from .manifest import Subject, load_subject, sha256_file
from .precision import CalibrationConfig, prepare_precision
from .results import (AccuracyReport, AccuracyResult, BenchResult, FlopReport, ModelInfo, ProfileReport, RunResult)
from .runner import POLICY_STEP, RunSpec
from .worker import launch

log = logging.getLogger(__name__)
Say = Callable[[str], None]


def is_preset(subject: str) -> bool:
    """A path (export folder or .onnx) is profiled as is; anything else, or a YAML file, names a preset."""
    path = Path(subject)
    return not path.exists() or (path.is_file() and path.suffix in (".yaml", ".yml"))


def resolve_subject(subject: str, out: Path, exporter: Optional[str] = None, say: Say = log.info) -> str:
    """The export folder or .onnx file to measure: the given path, or the preset exported into out/export."""
    if not is_preset(subject):
        return subject
    from .export import export_preset

    say(f"exporting {subject} to {out / 'export'}")
    export_preset(subject, out / "export", exporter=exporter, force=True)  # this run's own folder
    return str(out / "export")


def check_backends(names: list[str], skip_unavailable: bool, say: Say) -> tuple[list[str], list[str]]:
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


@dataclasses.dataclass(frozen=True)
class StaticCost:
    """FLOPs of each stage and of a whole policy step at one batch: counted once, shared by every run."""
    flops: dict[str, FlopReport]
    step_flops: Optional[int]


def static_cost(subject: Subject, batch: int, dims: dict[str, int]) -> StaticCost:
    manifest, root = subject
    flops = stage_reports(manifest, root, batch, dims)
    step = policy_step_total(manifest, root, flops, batch, dims) if len(manifest.stages) > 1 else None
    return StaticCost(flops, step)


def attach_flops(run: RunResult, cost: StaticCost) -> RunResult:
    total = cost.step_flops if run.stage == POLICY_STEP else \
        (cost.flops[run.stage].flops_total if run.stage in cost.flops else None)
    achieved = total / (run.latency.p50_ms / 1e3) / 1e9 if total and run.latency.p50_ms > 0 else None
    return dataclasses.replace(run, flops_per_run=total, achieved_gflop_per_s=achieved)


def run_warnings(runs: list[RunResult], flops: dict[str, FlopReport]) -> list[str]:
    out = []
    for r in runs:
        tag = f"{r.backend}/{r.precision} {r.stage}"
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


def measure_subject(subject: Subject, names: list[str], config: MeasureConfig,
                    say: Say) -> tuple[list[RunResult], dict[int, StaticCost]]:
    """Every backend at every batch on one subject, each run with the FLOPs it executed."""
    costs = {b: static_cost(subject, b, config.dims) for b in config.batches}
    runs: list[RunResult] = []
    for name in names:
        for batch in config.batches:
            say(f"measuring {name}, batch {batch} ({'in process' if config.launcher == 'inline' else 'own process'})")
            runs += [attach_flops(r, costs[batch]) for r in launch(RunSpec(subject.path, name, batch, config), subject)]
    return runs, costs


def prepare_variants(base: Subject, precisions: list[str], out: Path, calib: CalibrationConfig,
                     say: Say = log.info) -> dict[str, Subject]:
    """Each precision's export, prepared from the loaded FP32 one into OUT/export-<precision> and loaded once."""
    variants = {}
    for p in precisions:
        if p == "fp32":
            variants[p] = base
            continue
        say(f"preparing {p} from the FP32 export" + (f" (calibrating, {calib.method})" if p == "int8" else ""))
        variants[p] = load_subject(prepare_precision(base, p, out / f"export-{p}", calib))
    return variants


def _with_speedups(runs: list[RunResult]) -> list[RunResult]:
    base = {(r.backend, r.stage, r.batch): r.latency.p50_ms for r in runs if r.precision == "fp32"}
    out = []
    for r in runs:
        ref = base.get((r.backend, r.stage, r.batch))
        out.append(dataclasses.replace(r, speedup_vs_fp32=ref / r.latency.p50_ms) if ref and r.precision != "fp32" else r)
    return out


def precision_warnings(runs: list[RunResult], accuracy: list[AccuracyResult]) -> list[str]:
    out = []
    p50 = {(r.backend, r.stage, r.batch, r.precision): r.latency for r in runs}
    whole = {r.stage for r in runs if r.stage == POLICY_STEP} or {r.stage for r in runs}  # judge the whole step
    for (backend, stage, batch, prec), lat in p50.items():
        if not prec.startswith("int8") or stage not in whole:
            continue
        for other in ("fp16", "fp32"):
            o = p50.get((backend, stage, batch, other))
            # Only when the confidence intervals do not overlap: a difference inside the noise is no finding.
            if o is not None and lat.ci_ms["p50"][0] > o.ci_ms["p50"][1]:
                out.append(f"{backend} {stage}: {prec.upper()} is SLOWER than {other.upper()} "
                           f"(p50 {lat.p50_ms:.3f} vs {o.p50_ms:.3f} ms): layers fall back or Q/DQ overhead dominates")
    for a in accuracy:
        if a.passed is False:
            out.append(f"{a.precision}: accuracy FAILS the tolerance (max abs {a.action.max_abs:.4g}, "
                       f"min cosine {a.action.cosine_min:.5f})")
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def profile(subject: str, out: Path, backends: list[str], *, config: MeasureConfig = MeasureConfig(),
            precisions: list[str] = ("fp32",), calib: CalibrationConfig = CalibrationConfig(),
            atol: Optional[float] = None, min_cosine: Optional[float] = None,
            skip_unavailable: bool = False, exporter: Optional[str] = None,
            say: Say = log.info, plan: Callable[[int], None] = lambda n: None,
            target_profile: Optional[str] = None) -> ProfileReport:
    """say() announces each phase; plan() is told how many phases there will be (for a progress bar)."""
    out = Path(out)
    batches, precisions = list(config.batches), list(dict.fromkeys(["fp32", *precisions]))
    check_provider_options(backends, config.backend_options.provider_options)  # before any work
    usable, warnings = check_backends(backends, skip_unavailable, say)
    preset = is_preset(subject)
    if preset:
        from .presets import load_preset

        load_preset(subject)  # an unknown or broken preset fails here, before --out is touched
    with run_marked(out, f"deployprof profile {subject}"):  # marked INCOMPLETE until the report is written
        plan(preset + 2 * (len(precisions) - 1) + 1 + len(usable) * len(batches) * len(precisions) + 1)
        resolved = resolve_subject(subject, out, exporter, say)
        base = load_subject(resolved)  # each manifest is read once from here on
        if base.manifest.static_only:
            say("warning: shapes-only export (no weights): counting FLOPs, measuring nothing")
            warnings.append("shapes-only export (weights without data): static cost only, no latency measured")
            usable, precisions = [], ["fp32"]
        subjects = prepare_variants(base, precisions, out, calib, say)
        say("counting FLOPs")
        runs: list[RunResult] = []
        for p, sub in subjects.items():
            names = [n for n in usable if p in BACKENDS.get(n).artifact_precisions]
            runs_p, costs_p = measure_subject(sub, names, config, say)
            runs += runs_p
            if p == "fp32":
                cost = costs_p[batches[0]]
        accuracy = []
        for p in subjects:
            if p != "fp32":
                say(f"accuracy of {p} against FP32")
                accuracy.append(compare(subjects["fp32"], subjects[p], atol=atol, min_cosine=min_cosine))
        runs = _with_speedups(runs)
        warnings += run_warnings(runs, cost.flops) + precision_warnings(runs, accuracy)
        manifest, root = subjects["fp32"]
        roofline = ()
        if target_profile:
            from .qualify.roofline import predict_measured
            from .targets import load_target_profile

            roofline = predict_measured(manifest, root, cost.flops, runs, load_target_profile(target_profile),
                                        list(subjects), batches[0], config.dims)
        report = ProfileReport(
            created_utc=_now(),
            model=ModelInfo(source=str(subject), preset=manifest.preset, family=manifest.family,
                            stages=tuple(s.name for s in manifest.stages),
                            stage_sha256={s.name: sha256_file(root / s.file) for s in manifest.stages},
                            calls_per_step={s.name: s.calls_per_step for s in manifest.stages}, exporter=manifest.exporter),
            environment=capture(), settings=config, flops=cost.flops, policy_step_flops=cost.step_flops,
            runs=tuple(runs), warnings=tuple(warnings), accuracy=tuple(accuracy),
            precision_info={p: s.manifest.precision_info for p, s in subjects.items() if p != "fp32"},
            roofline=roofline)
        say("writing report.json, report.md, report.html")
        _write(report, out)
    return report


def _write(report: ProfileReport, out: Path) -> None:
    from .report.render import render_all

    report.write(out / "report.json")
    render_all(report, out)


def compare_precisions(export: Path, precisions: list[str], *, samples: int = 8, out: Optional[Path] = None,
                       calib: CalibrationConfig = CalibrationConfig(), atol: Optional[float] = None,
                       min_cosine: Optional[float] = None) -> AccuracyReport:
    """`compare-precision`: each precision's actions against FP32, the prepared exports kept under `out` if given."""
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        reference = load_subject(export)
        variants = prepare_variants(reference, [p for p in precisions if p != "fp32"], Path(out or tmp), calib)
        results = [compare(reference, sub, samples=samples, atol=atol, min_cosine=min_cosine) for sub in variants.values()]
    return AccuracyReport(subject=str(export), samples=samples, accuracy=tuple(results))


def bench(subject: str, backend: str, precision: str = "fp32", config: MeasureConfig = MeasureConfig(),
          calib: CalibrationConfig = CalibrationConfig(), say: Say = log.info) -> BenchResult:
    """`bench`: one backend on an ONNX file or export folder (prepared at `precision` first), FLOPs attached; no
    report written."""
    check_provider_options([backend], config.backend_options.provider_options)
    check_backends([backend], False, say)
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        runs, _ = measure_subject(load_subject(prepare_precision(subject, precision, Path(tmp) / precision, calib)),
                                  [backend], config, log.info)
    return BenchResult(subject=str(subject), backend=backend, precision=precision, settings=config, runs=tuple(runs))


def train_profile(preset: str, out: Path, cfg, target_profile: Optional[str] = None,
                  say: Say = log.info, plan: Callable[[int], None] = lambda n: None) -> ProfileReport:
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
            created_utc=_now(),
            model=ModelInfo(source=preset, preset=p.name, family=p.family, stages=(), stage_sha256={}, calls_per_step={}),
            environment=capture(), settings=None, flops={}, policy_step_flops=None, runs=(), training=(result,))
        _write(report, out)
    return report
