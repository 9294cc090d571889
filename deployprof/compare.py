"""Line up two reports run by run (same stage, backend, precision, batch) and judge each change by the spread
between runs (measure/between.py), never by one run's own confidence intervals: those cannot see load, clocks or
cache state changing from one run to the next (identical work once read +107% with both CIs a few % wide).

Where the between-run spread comes from, in order: the stored history of the configuration (`--baseline store:`,
three or more stored runs), or either report's `--repeats`. Without any, the change is shown and not judged
("unknown"), and the closing sentence says how to make it judgeable. A run flagged by its own statistics (load
changed, time cap, too few samples, a busy machine) never makes a regression call on its own."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from .errors import ConfigError
from .measure.between import NOISE_PCT, between_runs, geometric_interval, verdict
from .results import Comparison, MetricDelta, ProfileReport, Regression, RunDelta, RunResult, run_flags
from .history import stored_baseline
from .report.sections import run_label
from .store import parse_filters

METRICS = ("p50", "p99")
KEY_FIELDS = ("stage", "backend", "cuda_graph", "precision", "batch")
HOW_TO_JUDGE = ("profile both with --repeats 3 (or keep 3 or more stored runs of the baseline), or re-measure both "
                "exports side by side: deployprof compare --interleave A_EXPORT B_EXPORT")

Series = dict[tuple, dict[str, list[float]]]   # a stored history: run key -> metric -> values, one per stored run


def _index(report: ProfileReport, fields: tuple[str, ...], which: str, stage_as: Optional[str] = None
           ) -> dict[tuple, RunResult]:
    """Runs by key; `stage_as`: the name a single graph's stage is matched under (the other report's)."""
    out: dict[tuple, RunResult] = {}
    for r in report.runs:
        key = tuple(stage_as if f == "stage" and stage_as else getattr(r, f) for f in fields)
        if key in out:
            raise ConfigError(f"report {which} has several runs for {dict(zip(fields, key))}; ignore fewer fields")
        out[key] = r
    return out


def _values(r: RunResult, metric: str) -> list[float]:
    """A run's independent measurements of a percentile: each repetition's (--repeats), else its one value."""
    if r.repeats is not None and metric in r.repeats.values_ms:
        return list(r.repeats.values_ms[metric])
    return [getattr(r.latency, f"{metric}_ms")]


def _within_run(metric: str, a: RunResult, b: RunResult) -> tuple[float, float]:
    """The change's range from the two runs' own CIs (B/A between blo/ahi and bhi/alo): shown, never judged."""
    (alo, ahi), (blo, bhi) = a.latency.ci_ms[metric], b.latency.ci_ms[metric]
    return ((blo / ahi - 1) * 100 if ahi > 0 else -100.0, (bhi / alo - 1) * 100 if alo > 0 else float("inf"))


def metric_delta(metric: str, a: RunResult, b: RunResult, threshold_pct: Optional[float] = None,
                 history: Optional[list[float]] = None, flagged: tuple[bool, bool] = (False, False)) -> MetricDelta:
    """B against A (or against A's stored history) for one percentile. `flagged`: is A / B flagged (run_flags)."""
    xa = history if history else _values(a, metric)
    xb = _values(b, metric)
    ratio = between_runs(xa, xb, "history" if history else "repeats")
    if ratio is None:
        va, vb = getattr(a.latency, f"{metric}_ms"), getattr(b.latency, f"{metric}_ms")
        return MetricDelta(metric, va, vb, (vb - va) / va * 100, _within_run(metric, a, b), "unknown")
    call = verdict(ratio, threshold_pct)
    # A side of one run that is flagged cannot carry a call: with repetitions, the others outvote it.
    if call in ("regression", "improvement") and ((flagged[0] and ratio.n_a == 1) or (flagged[1] and ratio.n_b == 1)):
        call = "flagged"
    d, lo, hi = ratio.pct
    return MetricDelta(metric, geometric_interval(xa)[0], geometric_interval(xb)[0], d, (lo, hi), call, ratio.basis,
                       ratio.n_a, ratio.n_b, ratio.spread_pct)


def conclusion(runs: Sequence[RunDelta], threshold_pct: Optional[float]) -> str:
    """The closing sentence, counted from the very verdicts the table shows."""
    limit = NOISE_PCT if threshold_pct is None else threshold_pct
    count = lambda v: sum(m.verdict == v for r in runs for m in r.metrics)  # noqa: E731
    regs = [f"{run_label(r.key)} {m.metric} {m.delta_pct:+.1f}%" for r in runs for m in r.metrics
            if m.verdict == "regression"]
    head = (f"{len(regs)} regression(s): slower by more than {limit:g}% with 95% confidence between runs "
            f"({', '.join(regs)})" if regs else f"no regression over {limit:g}% with 95% confidence between runs")
    if not any(m.verdict not in ("unknown", "flagged") for r in runs for m in r.metrics) and runs:
        head = "no regression called"
    parts = [head]
    if count("improvement"):
        parts.append(f"{count('improvement')} improvement(s)")
    if count("inconclusive"):
        parts.append(f"{count('inconclusive')} inconclusive (the interval straddles {limit:g}%: more runs would tell)")
    if count("flagged"):
        parts.append(f"{count('flagged')} change(s) not called because a single run behind them is flagged "
                     "(see flags): rerun on a quiet machine or with --repeats")
    if count("unknown"):
        parts.append(f"{count('unknown')} not judged: the between-run spread is unknown (one run each); {HOW_TO_JUDGE}")
    return "; ".join(parts)


def compare_reports(a: ProfileReport, b: ProfileReport, metrics: tuple[str, ...] = METRICS,
                    ignore: tuple[str, ...] = (), threshold_pct: Optional[float] = None,
                    names: tuple[str, str] = ("A", "B"), history: Optional[Series] = None) -> Comparison:
    """ignore: run fields not to match on (e.g. precision, to line up an FP32 report with an FP16 one).
    A regression: slower by more than threshold_pct (else NOISE_PCT) with 95% confidence between runs.
    history: A's stored series per run key (store gate), the noise floor instead of A's own repetitions."""
    bad_metrics = [m for m in metrics if m not in ("p50", "p90", "p95", "p99")]
    if not metrics or bad_metrics:
        raise ConfigError(f"--metric expects a comma list of p50, p90, p95, p99, got {','.join(metrics)!r}")
    bad = set(ignore) - {"backend", "precision", "batch"}
    if bad:
        raise ConfigError(f"--ignore takes backend, precision or batch, not {', '.join(sorted(bad))}")
    fields = tuple(f for f in KEY_FIELDS if f not in ignore)
    # Two single graphs (each .onnx file's stage is named after the file) line up whatever their names.
    single = len(a.model.stages) == 1 and len(b.model.stages) == 1
    ra, rb = _index(a, fields, "A"), _index(b, fields, "B", a.model.stages[0] if single else None)
    runs = []
    for key in (k for k in ra if k in rb):
        x, y = ra[key], rb[key]
        fa, fb = run_flags(x, metrics), run_flags(y, metrics)
        # A stored history of one run says nothing of the spread: A's own repetitions (if any) judge then.
        hist = {m: v for m, v in (history or {}).get(key, {}).items() if len(v) >= 2}
        # A flag about one percentile (too few samples to bound the p99) does not hold back another's call.
        deltas = tuple(metric_delta(m, x, y, threshold_pct, hist.get(m),
                                    (bool(run_flags(x, (m,))) and m not in hist, bool(run_flags(y, (m,)))))
                       for m in metrics)
        rss = (y.memory.host_peak_rss_bytes - x.memory.host_peak_rss_bytes) / x.memory.host_peak_rss_bytes * 100 \
            if x.memory.host_peak_rss_bytes else None
        flags = tuple([] if hist else [f"A: {f}" for f in fa]) + tuple(f"B: {f}" for f in fb)
        runs.append(RunDelta(key, deltas,
                             (y.throughput_per_s - x.throughput_per_s) / x.throughput_per_s * 100 if x.throughput_per_s else 0.0,
                             rss, flags))
    regressions = tuple(Regression(r.key, m.metric, m.delta_pct) for r in runs for m in r.metrics
                        if m.verdict == "regression")
    return Comparison(names[0], names[1], tuple(runs), tuple(k for k in ra if k not in rb),
                      tuple(k for k in rb if k not in ra), tuple(_context(a, b)), threshold_pct, regressions,
                      NOISE_PCT, None, conclusion(runs, threshold_pct))


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
    for field in ("iterations", "duration_s", "concurrency", "rate_hz", "launcher", "repeats"):
        x, y = (getattr(s, field, None) if s is not None else None for s in (sa, sb))
        if x != y:
            out.append(f"settings {field}: {x} -> {y}")
    return out


def compare_paths(a: Path, b: Path, metrics: tuple[str, ...] = METRICS, ignore: tuple[str, ...] = (),
                  threshold_pct: Optional[float] = None) -> Comparison:
    """`deployprof compare`: two report.json files (or their folders)."""
    paths = [Path(p) / "report.json" if Path(p).is_dir() else Path(p) for p in (a, b)]
    return compare_reports(*(ProfileReport.read(p) for p in paths), metrics, ignore, threshold_pct, tuple(map(str, paths)))


def compare_to_stored(query: str, run: Path, options, metrics: tuple[str, ...] = METRICS, ignore: tuple[str, ...] = (),
                      threshold_pct: Optional[float] = None) -> Comparison:
    """`compare --baseline store:QUERY RUN`: RUN against the stored history matching QUERY (not RUN itself): the
    newest stored profile's runs, judged against the spread of the newest stored runs of each configuration."""
    filters = parse_filters(query)  # a bad query is refused before anything is read
    path = Path(run) / "report.json" if Path(run).is_dir() else Path(run)
    b = ProfileReport.read(path)
    a, label, series = stored_baseline(filters, b, options, tuple(f for f in KEY_FIELDS if f not in ignore))
    return compare_reports(a, b, metrics, ignore, threshold_pct, (label, str(path)), series)
