"""Specs against a report (measured) or an export (predicted from the roofline). A criterion whose confidence
interval straddles its limit is INCONCLUSIVE ("run longer"), never a PASS; a prediction can only FAIL (even the
floor misses) or stay INCONCLUSIVE (the floor fits; measure on the device)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Optional

from ..bands import PASS_COSINE, WARN_COSINE
from ..environment import device_text, measured_device
from ..errors import ConfigError
from ..files import ensure_complete
from ..results import (ConfigVerdict, Criterion, MeasuredDevice, ProfileReport, Qualification, RooflinePrediction,
                       RunResult, main_runs)
from ..targets import TargetProfile, load_target_profile
from .spec import Spec, load_spec
from .roofline import predict_export

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
MIB = 1 << 20


def wilson_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def ceiling(name: str, limit: float, unit: str, value: Optional[float], ci: Optional[tuple[float, float]] = None,
            missing: str = "not measured") -> Criterion:
    """value must stay at or below limit; judged on the CI when there is one."""
    if value is None:
        return Criterion(name, limit, unit, None, None, None, INCONCLUSIVE, missing)
    lo, hi = ci if ci is not None else (value, value)
    if hi <= limit:
        status, detail = PASS, ""
    elif lo > limit:
        status, detail = FAIL, ""
    else:
        status, detail = INCONCLUSIVE, "the confidence interval straddles the limit: run longer"
    return Criterion(name, limit, unit, value, ci, limit - value, status, detail)


def floor(name: str, limit: float, unit: str, value: Optional[float], missing: str) -> Criterion:
    if value is None:
        return Criterion(name, limit, unit, None, None, None, INCONCLUSIVE, missing)
    return Criterion(name, limit, unit, value, None, value - limit, PASS if value >= limit else FAIL)


def _latency_ci(r: RunResult, pct: str) -> tuple[float, float]:
    lo, hi = r.latency.ci_ms[pct]
    # Too few samples: the true percentile may lie beyond the largest sample.
    return (lo, math.inf) if pct in r.latency.too_few_samples else (lo, hi)


def _combine(statuses) -> str:
    statuses = list(statuses)
    return FAIL if FAIL in statuses else INCONCLUSIVE if INCONCLUSIVE in statuses else PASS


def _overall(configs: list[ConfigVerdict]) -> str:
    s = [c.status for c in configs]
    return PASS if PASS in s else INCONCLUSIVE if INCONCLUSIVE in s else FAIL


def _memory_used(r: RunResult, target: Optional[TargetProfile]) -> Optional[int]:
    m = r.memory
    if target is not None and not target.unified_memory:
        return m.device_peak_bytes
    return max(filter(None, (m.host_peak_rss_bytes, m.device_peak_bytes)), default=None)


def _board(c: Criterion, report: ProfileReport, accept_board: bool) -> Criterion:
    """A latency measured on a board that failed its self-check says nothing about that board at spec."""
    check = report.environment.self_check
    if accept_board or check is None or check.at_spec is not False or c.status == INCONCLUSIVE:
        return c
    return dataclasses.replace(c, status=INCONCLUSIVE, detail=f"measured on a board not at spec ({check.notes[-1]}); "
                               "fix the board and profile again, or qualify with --accept-board")


def _elsewhere(c: Criterion, device: MeasuredDevice, target: TargetProfile) -> Criterion:
    """A number measured on one device says nothing certain about another: never PASS (nor FAIL) it there."""
    if c.status == INCONCLUSIVE and c.value is None:
        return c
    return dataclasses.replace(c, status=INCONCLUSIVE, detail=(
        f"measured on {device_text(device)}, not on {target.name}: estimate it there with `deployprof predict "
        f"EXPORT --target {target.name}`, or profile on the board itself" + (f" ({c.detail})" if c.detail else "")))


def judge_run(spec: Spec, r: RunResult, report: ProfileReport, target: Optional[TargetProfile],
              accept_board: bool = False) -> ConfigVerdict:
    out: list[Criterion] = []
    for pct, limit in spec.latency_ms.items():
        out.append(_board(ceiling(f"latency {pct}", limit, "ms", getattr(r.latency, f"{pct}_ms"), _latency_ci(r, pct)),
                          report, accept_board))
    if spec.control_budget_ms is not None:
        pct = spec.control_percentile
        out.append(_board(ceiling(f"control {spec.control_rate_hz:g} Hz x chunk {spec.control_chunk} ({pct})",
                                  spec.control_budget_ms, "ms", getattr(r.latency, f"{pct}_ms"), _latency_ci(r, pct)),
                          report, accept_board))
    if spec.deadline_miss_rate is not None:
        c = r.control
        out.append(ceiling("deadline miss rate", spec.deadline_miss_rate, "fraction",
                           c.deadline_miss_rate if c else None, wilson_ci(c.deadline_misses, c.requests) if c else None,
                           missing="no fixed-rate run: profile with --rate HZ"))
    if spec.host_peak_mib is not None:
        out.append(ceiling("host peak RSS", spec.host_peak_mib, "MiB", r.memory.host_peak_rss_bytes / MIB))
    if spec.device_peak_mib is not None:
        dev = r.memory.device_peak_bytes
        out.append(ceiling("device memory peak", spec.device_peak_mib, "MiB", dev / MIB if dev is not None else None,
                           missing="no device memory reading for this backend"))
    if spec.headroom_pct is not None:
        used = _memory_used(r, target)
        if target is None:
            out.append(Criterion("memory headroom", spec.headroom_pct, "%", None, None, None, INCONCLUSIVE,
                                 "needs a target profile (spec `target:` or --target)"))
        else:
            left = None if used is None else 100.0 * (target.memory_bytes - used) / target.memory_bytes
            out.append(floor("memory headroom", spec.headroom_pct, "%", left, "no memory reading"))
    out += _accuracy(spec, r.accuracy)
    device = measured_device(r, report.environment)
    if target is not None and not target.describes(device.kind, device.name):
        out = [_elsewhere(c, device, target) for c in out]
    if target is not None and target.refusal(r.precision):   # never a PASS for what the device cannot run
        out.append(Criterion("precision on the target", 0.0, "", None, None, None, FAIL, target.refusal(r.precision)))
    return ConfigVerdict(r.backend, r.precision, r.batch, _combine(c.status for c in out), tuple(out))


def _accuracy(spec: Spec, a) -> list[Criterion]:
    """This configuration's own accuracy: against the spec's limits, or, when it sets none, the default bands (a
    WARN-band cosine is INCONCLUSIVE: check it on the task)."""

    missing = "no accuracy measured for this configuration: profile with --accuracy-samples > 0"
    vs = f" vs {a.reference}" if a else ""
    out = []
    if spec.min_cosine is not None:
        out.append(floor(f"accuracy: min cosine{vs}", spec.min_cosine, "", a.action.cosine_min if a else None, missing))
    if spec.max_abs_error is not None:
        out.append(ceiling(f"accuracy: max |action error|{vs}", spec.max_abs_error, "", a.action.max_abs if a else None,
                           missing=missing))
    dims = a.per_action_dim_max_abs if a else ()
    for d, limit in enumerate(spec.max_abs_error_per_dim):   # each joint in robot units: a failure names it
        out.append(ceiling(f"accuracy: max |action error| of dimension {d}{vs}", limit, "",
                           dims[d] if d < len(dims) else None,
                           missing=missing if a is None else f"the actions have {len(dims)} dimensions, the spec "
                                                             f"gives {len(spec.max_abs_error_per_dim)} limits"))
    if not out and a is not None:
        c = a.action.cosine_min
        status = PASS if c >= PASS_COSINE else INCONCLUSIVE if c >= WARN_COSINE else FAIL
        out.append(Criterion(f"accuracy: min cosine{vs} (default bands)", PASS_COSINE, "", c, None, c - PASS_COSINE, status,
                             f"WARN band {WARN_COSINE}-{PASS_COSINE}: check on the task" if status == INCONCLUSIVE else ""))
    return out


def _allowed(spec: Spec, backend: Optional[str], precision: str, batch: int) -> bool:
    return ((not spec.backends or backend is None or backend in spec.backends)
            and (not spec.precisions or precision in spec.precisions) and (spec.batch is None or batch == spec.batch))


def qualify_report(spec: Spec, report: ProfileReport, spec_name: str, source: str,
                   target: Optional[TargetProfile], accept_board: bool = False) -> Qualification:
    runs = [r for r in main_runs(report.runs) if _allowed(spec, r.backend, r.precision, r.batch)]
    notes = []
    if not runs:
        notes.append("no measured run matches the spec's backends/precisions/batch")
    check = report.environment.self_check
    if check is not None and check.at_spec is False:
        notes.append(f"the board was not at spec when profiled ({check.device} against {check.target})"
                     + (": accepted (--accept-board)" if accept_board else ": latency criteria are INCONCLUSIVE"))
    devices = list(dict.fromkeys(measured_device(r, report.environment) for r in runs))
    away = [d for d in devices if target is not None and not target.describes(d.kind, d.name)]
    if away:
        notes.append(f"measured on {', '.join(map(device_text, away))}, not on {target.name}: no measured criterion "
                     f"can pass there; `deployprof predict EXPORT --target {target.name}` estimates the floor, "
                     "profiling on the board measures it")
    configs = [judge_run(spec, r, report, target, accept_board) for r in runs]
    return Qualification(spec_name, source, "measured", target.name if target else None,
                         _overall(configs) if configs else FAIL, tuple(configs), tuple(notes),
                         measured_on=tuple(map(device_text, devices)))


def qualify_prediction(spec: Spec, predictions: list[RooflinePrediction], spec_name: str, source: str,
                       target: TargetProfile) -> Qualification:
    configs = []
    for p in predictions:
        if not _allowed(spec, None, p.precision, p.batch):
            continue
        out = []
        budgets = [(f"latency {k} (roofline floor)", v) for k, v in spec.latency_ms.items()]
        if spec.control_budget_ms is not None:
            budgets.append((f"control {spec.control_rate_hz:g} Hz x chunk {spec.control_chunk} (roofline floor)",
                            spec.control_budget_ms))
        for name, limit in budgets:
            lb = p.step_lower_bound_ms
            out.append(Criterion(name, limit, "ms", lb, None, limit - lb, FAIL if lb > limit else INCONCLUSIVE,
                                 "even at peak the step takes longer" if lb > limit else
                                 "the floor fits the budget: measure on the device"))
        if spec.headroom_pct is not None:
            left = 100.0 * (1 - p.memory.fraction_of_device)
            out.append(floor("memory headroom (predicted: weights + KV cache + peak activations)", spec.headroom_pct, "%",
                             left, ""))
        for name, value in (("deadline miss rate", spec.deadline_miss_rate), ("host peak RSS", spec.host_peak_mib),
                            ("device memory peak", spec.device_peak_mib), ("accuracy: min cosine", spec.min_cosine),
                            ("accuracy: max |action error|", spec.max_abs_error),
                            ("accuracy: max |action error| per dimension (the smallest limit)",
                             min(spec.max_abs_error_per_dim, default=None))):
            if value is not None:
                out.append(Criterion(name, value, "", None, None, None, INCONCLUSIVE, "needs a measured run"))
        configs.append(ConfigVerdict("(predicted)", p.precision, p.batch, _combine(c.status for c in out), tuple(out)))
    return Qualification(spec_name, source, "predicted", target.name + (f"@{target.power_mode}" if target.power_mode else ""),
                         _overall(configs) if configs else FAIL, tuple(configs),
                         ("a prediction is a lower bound: it can rule a board out, never qualify it",))


def qualify_source(spec_path: Path, source: Path, target_name: Optional[str] = None,
                   accept_board: bool = False) -> Qualification:
    """A spec against a measured report (report.json or its folder), or, from the roofline, an export folder."""
    spec_path, source = Path(spec_path), Path(source)
    spec = load_spec(spec_path)
    if source.is_dir():
        ensure_complete(source)  # an interrupted run says so, not "neither a report nor an export"
    name = target_name or spec.target
    target = load_target_profile(name) if name else None
    report_path = source / "report.json" if source.is_dir() else source
    if report_path.name.endswith(".json") and report_path.exists():
        return qualify_report(spec, ProfileReport.read(report_path), str(spec_path), str(report_path), target,
                              accept_board)
    if (source / "manifest.json").exists():
        if target is None:
            raise ConfigError("a prediction from an export needs a target: --target NAME or `target:` in the spec")

        preds = predict_export(source, target, spec.precisions or ("fp32",), spec.batch or 1).predictions
        return qualify_prediction(spec, preds, str(spec_path), str(source), target)
    raise ConfigError(f"{source} is neither a report (report.json) nor an export folder (manifest.json)")
