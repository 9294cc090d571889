"""Line up two reports run by run (same stage, backend, precision, batch) and call a difference a regression
only when it is both larger than the threshold and outside both runs' confidence intervals."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .errors import ConfigError
from .results import Comparison, MetricDelta, ProfileReport, Regression, RunDelta, RunResult
from .history import stored_baseline
from .store import parse_filters

METRICS = ("p50", "p99")


KEY_FIELDS = ("stage", "backend", "cuda_graph", "precision", "batch")


def _index(report: ProfileReport, fields: tuple[str, ...], which: str) -> dict[tuple, RunResult]:
    out: dict[tuple, RunResult] = {}
    for r in report.runs:
        key = tuple(getattr(r, f) for f in fields)
        if key in out:
            raise ConfigError(f"report {which} has several runs for {dict(zip(fields, key))}; ignore fewer fields")
        out[key] = r
    return out


def metric_delta(metric: str, a: RunResult, b: RunResult) -> MetricDelta:
    va, vb = getattr(a.latency, f"{metric}_ms"), getattr(b.latency, f"{metric}_ms")
    (alo, ahi), (blo, bhi) = a.latency.ci_ms[metric], b.latency.ci_ms[metric]
    if blo > ahi:
        verdict = "regression"
    elif bhi < alo:
        verdict = "improvement"
    else:
        verdict = "within noise"
    # The ratio B/A lies between blo/ahi and bhi/alo (each CI holds its value): a latency's change can never be
    # below -100% (dividing the CI ends' difference by A's point value once gave "-5.5% [-134.3, +13.9]").
    lo = (blo / ahi - 1) * 100 if ahi > 0 else -100.0
    hi = (bhi / alo - 1) * 100 if alo > 0 else float("inf")
    return MetricDelta(metric, va, vb, (vb - va) / va * 100, (lo, hi), verdict)


def _context(a: ProfileReport, b: ProfileReport) -> list[str]:
    out = []
    ea, eb = a.environment, b.environment
    for what, x, y in (("CPU", ea.cpu_model, eb.cpu_model), ("GPUs", ", ".join(ea.gpus), ", ".join(eb.gpus)),
                       ("driver", ea.driver_version, eb.driver_version), ("deployprof", ea.deployprof_version, eb.deployprof_version),
                       ("model", a.model.source, b.model.source)):
        if x != y:
            out.append(f"{what}: {x or '-'} -> {y or '-'}")
    for pkg in sorted(set(ea.packages) | set(eb.packages)):
        if ea.packages.get(pkg) != eb.packages.get(pkg):
            out.append(f"{pkg}: {ea.packages.get(pkg) or 'absent'} -> {eb.packages.get(pkg) or 'absent'}")
    for stage in sorted(set(a.model.stage_sha256) | set(b.model.stage_sha256)):
        if a.model.stage_sha256.get(stage) != b.model.stage_sha256.get(stage):
            out.append(f"stage {stage}: graph differs (sha256)")
    sa, sb = a.settings, b.settings
    for field in ("iterations", "duration_s", "concurrency", "rate_hz", "launcher"):
        x, y = (getattr(s, field) if s is not None else None for s in (sa, sb))
        if x != y:
            out.append(f"settings {field}: {x} -> {y}")
    return out


def compare_reports(a: ProfileReport, b: ProfileReport, metrics: tuple[str, ...] = METRICS,
                    ignore: tuple[str, ...] = (), threshold_pct: Optional[float] = None,
                    names: tuple[str, str] = ("A", "B")) -> Comparison:
    """ignore: run fields not to match on (e.g. precision, to line up an FP32 report with an FP16 one).
    Regressions: slower with the CIs apart, and by more than threshold_pct when one is given."""
    bad_metrics = [m for m in metrics if m not in ("p50", "p90", "p95", "p99")]
    if not metrics or bad_metrics:
        raise ConfigError(f"--metric expects a comma list of p50, p90, p95, p99, got {','.join(metrics)!r}")
    bad = set(ignore) - {"backend", "precision", "batch"}
    if bad:
        raise ConfigError(f"--ignore takes backend, precision or batch, not {', '.join(sorted(bad))}")
    fields = tuple(f for f in KEY_FIELDS if f not in ignore)
    ra, rb = _index(a, fields, "A"), _index(b, fields, "B")
    runs = []
    for key in (k for k in ra if k in rb):
        x, y = ra[key], rb[key]
        rss = (y.memory.host_peak_rss_bytes - x.memory.host_peak_rss_bytes) / x.memory.host_peak_rss_bytes * 100 \
            if x.memory.host_peak_rss_bytes else None
        runs.append(RunDelta(key, tuple(metric_delta(m, x, y) for m in metrics),
                             (y.throughput_per_s - x.throughput_per_s) / x.throughput_per_s * 100 if x.throughput_per_s else 0.0,
                             rss))
    limit = threshold_pct if threshold_pct is not None else 0.0
    bad = tuple(Regression(r.key, m.metric, m.delta_pct) for r in runs for m in r.metrics
                if m.verdict == "regression" and m.delta_pct > limit)
    return Comparison(names[0], names[1], tuple(runs), tuple(k for k in ra if k not in rb),
                      tuple(k for k in rb if k not in ra), tuple(_context(a, b)), threshold_pct, bad)


def compare_paths(a: Path, b: Path, metrics: tuple[str, ...] = METRICS, ignore: tuple[str, ...] = (),
                  threshold_pct: Optional[float] = None) -> Comparison:
    """`deployprof compare`: two report.json files (or their folders)."""
    paths = [Path(p) / "report.json" if Path(p).is_dir() else Path(p) for p in (a, b)]
    return compare_reports(*(ProfileReport.read(p) for p in paths), metrics, ignore, threshold_pct, tuple(map(str, paths)))


def compare_to_stored(query: str, run: Path, options, metrics: tuple[str, ...] = METRICS, ignore: tuple[str, ...] = (),
                      threshold_pct: Optional[float] = 0.0) -> Comparison:
    """`compare --baseline store:QUERY RUN`: RUN against the newest matching stored profile (not RUN itself)."""
    filters = parse_filters(query)  # a bad query is refused before anything is read
    path = Path(run) / "report.json" if Path(run).is_dir() else Path(run)
    b = ProfileReport.read(path)
    a, label = stored_baseline(filters, b, options)
    return compare_reports(a, b, metrics, ignore, threshold_pct, (label, str(path)))
