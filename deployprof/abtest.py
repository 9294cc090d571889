"""`compare --interleave A B`: two exports (or .onnx files) re-measured side by side on one backend, in alternating
blocks in one process and window (measure/interleave.py), so that the machine's load hits both alike. This is the
comparison to act on when both sides can be run here: two commits' exports, FP16 against INT8, a model change."""
from __future__ import annotations

import dataclasses
import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Optional

from .backends import BACKENDS
from .config import BackendOptions
from .errors import BackendUnavailableError, ConfigError
from .inputs import make_inputs
from .manifest import LoadedExport, check_bindings, load_subject
from .measure.between import NOISE_PCT, verdict
from .measure.interleave import InterleaveConfig, interleave
from .measure.load import LoadMeter
from .policy import open_policy
from .results import POLICY_STEP, Comparison, Interleaved, MetricDelta, Regression, RunDelta
from .compare import conclusion


def _timed(subject: LoadedExport, step, batch: int, seed: int) -> tuple[str, Callable[[], object], Callable[[], None]]:
    """What is timed: the one stage of a single-graph subject, else the whole policy step."""
    manifest = subject.manifest
    dims = manifest.binding(batch)
    if not manifest.has_policy_step:
        stage = manifest.stages[0]
        b = step.backends[stage.name]
        return stage.name, b.bind(make_inputs(stage.inputs, batch=batch, seed=seed, dims=dims)), b.synchronize
    external = make_inputs(manifest.external_inputs(), batch=batch, seed=seed, dims=dims)
    return POLICY_STEP, lambda: step(external), lambda: None


def interleaved_compare(a: Path, b: Path, backend: str = "ort-cpu", threshold_pct: Optional[float] = None,
                        max_s: float = 60.0, batch: int = 1, seed: int = 0,
                        options: BackendOptions = BackendOptions()) -> Comparison:
    """B against A, both loaded at once and timed in alternating blocks until the paired interval decides the
    gate's question (slower by more than the threshold, or not) or `max_s` has passed."""
    subjects = [load_subject(p) for p in (a, b)]
    for s in subjects:
        check_bindings(s, {}, {})
        if s.manifest.static_only:
            raise ConfigError(f"{s.path} is a shapes-only export (weights without data): it cannot be run")
    cls = BACKENDS.get(backend)
    avail = cls.availability()
    if not avail.ok:
        raise BackendUnavailableError(f"backend {backend} is not available here: {avail.reason}")
    limit = NOISE_PCT if threshold_pct is None else threshold_pct
    with ExitStack() as stack:
        timed = []
        for s in subjects:
            opts = dataclasses.replace(options, batch=batch, dims=s.manifest.binding(batch),
                                       provider_options=cls.own_options(options.provider_options))
            step = stack.enter_context(open_policy(s, backend, opts))
            timed.append(_timed(s, step, batch, seed))
        (stage_a, fa, sync_a), (stage_b, fb, sync_b) = timed
        if POLICY_STEP in (stage_a, stage_b) and stage_a != stage_b:
            raise ConfigError(f"A times its {stage_a} and B its {stage_b}: compare two single graphs, or two exports "
                              "with a policy step each")
        with LoadMeter() as load:
            t = interleave(fa, fb, lambda: (sync_a(), sync_b()), InterleaveConfig(threshold_pct=limit, max_s=max_s,
                                                                                     seed=seed))
    pa, pb = (s.manifest.precision for s in subjects)
    key = (stage_a if stage_a == stage_b else f"{stage_a} vs {stage_b}", backend, False,
           pa if pa == pb else f"{pa} vs {pb}", batch)
    ma, mb = statistics.median(t.a_block_ms), statistics.median(t.b_block_ms)
    if t.ratio is None:
        delta = MetricDelta("p50", ma, mb, (mb - ma) / ma * 100, (-100.0, float("inf")), "unknown", "interleaved",
                            len(t.a_block_ms), len(t.b_block_ms))
    else:
        d, lo, hi = t.ratio.pct
        delta = MetricDelta("p50", ma, mb, d, (lo, hi), verdict(t.ratio, threshold_pct), "interleaved",
                            t.ratio.n_a, t.ratio.n_b, t.ratio.spread_pct)
    flags = ()
    if load.result is not None and load.result.busy:
        flags = (f"other processes took {load.result.other_cores_during:.1f} of {load.result.cores} cores "
                 "(interleaving shares it between A and B)",)
    run = RunDelta(key, (delta,), 0.0, None, flags)
    context = (f"interleaved on {backend}: {len(t.a_block_ms)} pairs of blocks of {t.calls_per_block} call(s), "
               f"{t.wall_s:.1f} s, stopped: {t.stop}",)
    regressions = (Regression(key, "p50", delta.delta_pct),) if delta.verdict == "regression" else ()
    record = Interleaved(backend, stage_a, t.calls_per_block, tuple(t.a_block_ms), tuple(t.b_block_ms),
                         tuple(t.b_first), t.stop, t.wall_s)
    return Comparison(str(a), str(b), (run,), (), (), context, threshold_pct, regressions, NOISE_PCT, record,
                      conclusion((run,), threshold_pct))
