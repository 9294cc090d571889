"""`precision-debug`: which model components break INT8 / FP16 in action space, and the smallest set kept
in FP32 that passes. A component is a stage's module at --depth (the exporter's name scopes, graph/scopes.py; a node
without one counts under its op type). Every evaluation is a mixed variant of the whole export (prepare_precision
with the kept nodes excluded from quantization / blocked from FP16) judged through whole policy steps against the
FP32 reference (accuracy.py: same observations, same noise, same bands as `qualify`), so an error in an early stage
reaches the actions through the loop like it would on the robot.

Search: rank the components by the error with only each at the low precision (sensitivity); add them to the kept
set greedily in that order until the configuration passes; then drop, one at a time and least harmful first, each
kept component whose removal still passes (one evaluation each). Cost: 2N + 1 evaluations for the ranking (N
components), at most N for the greedy step and at most N for the pruning; each is one variant prepared (INT8:
calibrated), `samples` policy steps judged, then timed in short blocks alternating with the FP32 export's (TIMING):
its time is the median block ratio with its 95% interval (load on a shared machine slows both blocks of a pair
alike: MEASUREMENT.md), in ms at the FP32 time of the quietest window (best of several). The latency axis of the
report's plot and what each kept component costs; indicative, `profile` measures the result properly.
Selection and confirmation are different samples (MEASUREMENT.md): the search selects a set only when it passes
its `samples` seeded steps with SELECT_MARGIN of the error budget to spare (half: cosine >= 0.995 for the 0.99
band), then the final set is judged again on CONFIRM_FACTOR times as many fresh steps from another seed; a set
that fails them grows by the next most harmful component and is confirmed on another fresh set (CONFIRM_ROUNDS at
most). Only a set that PASSes its fresh samples is the mixed precision; the report says how many fell outside the
rule and the 95% upper bound that puts on the share of inputs outside it. (Without this, a set that passed at
cosine 0.99009 on its 8 samples had 14% of 256 fresh samples below 0.99.)
Evaluations are cached in the run folder (evaluations.json, keyed by the export's digest, precision, backend,
reference, samples, calibration and kept set), so an interrupted run resumes, and in the user's cache
($DEPLOYPROF_CACHE/precision-debug/DIGEST.json), so that `profile --precisions ...,int8-mixed` or a sweep after a
`precision-debug` of the same export (another run folder) does not search again."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

from ..accuracy import AccuracyCheck, SEED, measure, policy_inputs, write_reference
from ..bands import passes, verdict as bands_verdict
from ..config import AccuracyConfig, CalibrationConfig
from ..errors import ConfigError, DeployprofError
from ..files import cache_root, parse_json, read_document, write_json_atomic
from ..graph.scopes import module_at, module_path
from ..manifest import LoadedExport, graph_sha256, load_subject
from ..policy import open_policy
from ..measure.interleave import InterleaveConfig, interleave
from ..measure.stats import binomial_upper
from ..runfolder import PRECISION_DEBUG, run_folder, subject_id
from ..results import Confirmation, Evaluation, PrecisionDebugReport, Sensitivity, document
from ..precision_names import LOW
from ..graph.lowbit import FP8_OPS
from .prepare import prepare_precision

log = logging.getLogger(__name__)
LOW_PRECISIONS = LOW
MAX_CACHE_BYTES = 64 << 20  # an evaluation cache: thousands of entries are well under
SELECT_MARGIN = 0.5        # the search's sets use at most half the error budget on the samples that chose them
CONFIRM_FACTOR, CONFIRM_MIN = 4, 16   # fresh samples to confirm on: 4x the search's, at least 16
CONFIRM_SEED = SEED + 1_000_000       # apart from the search's seeds (SEED .. SEED + samples - 1) ...
CONFIRM_ROUNDS = 3                    # ... each round a new set (CONFIRM_SEED + round * 100_000): a set that fails
                                      # its round grows by the next most harmful component and is confirmed afresh


def seeded_step(step) -> Callable[[], object]:
    """One policy step on the seeded first observation, as a call without arguments (what the timers time)."""
    x = policy_inputs(step.manifest, 1, 1, SEED, {})[0]
    return lambda: step(x)


# Each evaluation is timed interleaved with FP32 (measure/interleave.py, as `compare --interleave`): short blocks
# alternating until the ratio's 95% interval is within 10% wide, for 3 s at most. Five single pairs, the first way,
# priced identical configurations from 0.36x to 5.07x FP32 on a loaded machine.
TIMING = InterleaveConfig(threshold_pct=None, width_pct=10.0, block_s=0.01, warmup_s=0.1, max_s=3.0)


def paired(run: Callable[[], object], reference: Callable[[], object], clock=time.perf_counter_ns
           ) -> tuple[float, Optional[tuple[float, float]], float]:
    """`run`'s time as a ratio to `reference`'s, timed in alternating blocks: (median block ratio, its 95% interval,
    the reference's median block ms in that window)."""
    t = interleave(reference, run, cfg=TIMING, clock=clock)
    r = t.ratio
    window = statistics.median(t.a_block_ms)
    if r is None:   # fewer than 6 pairs of blocks in the time allowed: the median ratio, unbounded
        med = statistics.median(b / a for a, b in zip(t.a_block_ms, t.b_block_ms))
        return med, None, window
    return r.ratio, (r.lo, r.hi), window


class BudgetSpent(Exception):
    """--max-evaluations or --max-time reached before an evaluation the search needs."""


@dataclass(frozen=True)
class Component:
    stage: str
    name: str
    nodes: tuple[str, ...]
    ops: frozenset[str]                # the op types of its nodes

    @property
    def key(self) -> str:
        return f"{self.stage}:{self.name}"


def components(subject: LoadedExport, depth: int) -> list[Component]:
    """Every stage's components at `depth`, in graph order."""
    import onnx

    out = []
    for stage in subject.manifest.stages:
        graph = onnx.load(str(subject.root / stage.file), load_external_data=False).graph
        groups: dict[str, list] = defaultdict(list)
        for node in graph.node:
            name = node.name or node.output[0]
            groups[module_at(module_path(name, {p.key: p.value for p in node.metadata_props}), depth, node.op_type)].append(
                (name, node.op_type))
        out += [Component(stage.name, m, tuple(n for n, _ in nodes), frozenset(op for _, op in nodes))
                for m, nodes in groups.items()]
    return out


def _digest(subject: LoadedExport) -> str:
    stages = "".join(graph_sha256(subject.root / s.file) for s in subject.manifest.stages)
    return hashlib.sha256(stages.encode()).hexdigest()[:16]


class Evaluator:
    """Judges and times a kept set once: cached in the run folder's `cache_path` and the user's cache (both written
    after every evaluation), counted, under a budget. A context manager: the FP32 policy every timing is paired with
    stays open until the search ends."""

    def __init__(self, subject: LoadedExport, precision: str, backend: str, check: AccuracyCheck,
                 calib: CalibrationConfig, parts: list[Component], cache_path: Path, max_evaluations: Optional[int],
                 max_time_s: Optional[float], progress: Callable[[str], None]):
        digest = _digest(subject)
        self.subject, self.precision, self.backend, self.check, self.calib = subject, precision, backend, check, calib
        self.parts = {c.key: c for c in parts}
        self.paths = (cache_path, cache_root() / "precision-debug" / f"{digest}.json")  # the run's, the user's
        self.prefix = (f"interleaved|{digest}|{precision}|{backend}|{check.reference}|{check.samples}|{check.atol}|"
                       f"{check.min_cosine}|{','.join(map(str, check.atol_per_dim))}|{calib.method}|"
                       f"{calib.int4_method}|{calib.samples}|{calib.seed}|{calib.source}|"
                       f"{','.join(calib.fp16_block_ops)}|")
        self.caches = [_read_cache(p) for p in self.paths]
        self.max_evaluations, self.deadline = max_evaluations, (time.monotonic() + max_time_s if max_time_s is not None else None)
        self.made = 0
        self.ran_as: Optional[str] = None   # what the backend ran the low precision as (an emulation says so)
        self.progress = progress
        self._stack = contextlib.ExitStack()
        self._reference = None
        self._windows: list[float] = []   # every evaluation's FP32 window (ms)

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def reference(self):
        """A step of the FP32 policy, opened on first use (a search served from the cache never opens it)."""
        if self._reference is None:
            self._reference = seeded_step(self._stack.enter_context(open_policy(self.subject, self.backend)))
        return self._reference

    def budget_left(self) -> bool:
        return ((self.max_evaluations is None or self.made < self.max_evaluations)
                and (self.deadline is None or time.monotonic() < self.deadline))

    def _store(self, key: str, value: object) -> None:
        for path, cache in zip(self.paths, self.caches):
            cache[key] = value
            try:
                write_json_atomic(path, cache)
            except OSError as exc:  # the user's cache is a convenience; the run folder's is the record
                if path == self.paths[0]:
                    raise
                log.debug("precision-debug: cannot write %s: %s", path, exc)

    def cached(self, kept: frozenset[str]) -> Optional[Evaluation]:
        key = self.prefix + ",".join(sorted(kept))
        hits = (_evaluation(c[key], kept, self.check) for c in self.caches if key in c)
        return next((e for e in hits if e is not None), None)

    def selects(self, e: Evaluation) -> bool:
        """The search's rule: PASS with SELECT_MARGIN of the error budget to spare."""
        return e.verdict == "PASS" and passes(e.cosine_min, e.max_abs, self.check.atol, self.check.min_cosine,
                                              SELECT_MARGIN)

    def confirm(self, kept: frozenset[str], mixed: Path, check: AccuracyCheck) -> Confirmation:
        """The kept set's export judged on `check`'s fresh samples (cached like an evaluation)."""
        key = f"confirm|{check.samples}|{check.seed}|" + self.prefix + ",".join(sorted(kept))
        hits = (_confirmation(c[key], check) for c in self.caches if key in c)
        hit = next((c for c in hits if c is not None), None)
        if hit is not None:
            return hit
        write_reference(self.subject, check.reference.partition(":")[0], Path(check.reference_npz), 1, check.samples,
                        check.seed, {})
        with open_policy(load_subject(mixed), self.backend) as step:
            acc = measure(check, step, self.backend, 1, {})
        outside = acc.outside or 0
        c = Confirmation(check.samples, check.seed, acc.verdict, acc.action.cosine_min, acc.action.max_abs, outside,
                         binomial_upper(outside, check.samples), acc.failed_dims)
        self._store(key, dataclasses.asdict(c))
        return c

    def fp32_ms(self) -> float:
        """FP32's policy step in the quietest window seen so far (best of several)."""
        return min(self._windows)

    def __call__(self, kept: frozenset[str], force: bool = False) -> Evaluation:
        hit = self.cached(kept)
        if hit is not None:
            self.progress(f"{len(kept)} kept in FP32 -> {hit.verdict} (cached)")
            self._windows.append(hit.fp32_window_ms)
            return hit
        if not force and not self.budget_left():
            raise BudgetSpent
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="deployprof-mixed-") as tmp:
            variant = prepare_precision(self.subject, self.precision, Path(tmp) / "variant", self.calib, self.nodes(kept))
            with open_policy(load_subject(variant), self.backend) as step:
                acc = measure(self.check, step, self.backend, 1, {})
                self.ran_as = self.ran_as or acc.ran_as
                ratio, ci, window = paired(seeded_step(step), self.reference())
        e = Evaluation(kept=tuple(sorted(kept)), verdict=acc.verdict, cosine_min=acc.action.cosine_min,
                       max_abs=acc.action.max_abs, rel_l2=acc.action.rel_l2, seconds=time.monotonic() - start,
                       vs_fp32=ratio, fp32_window_ms=window, vs_fp32_ci=ci, failed_dims=acc.failed_dims)
        self.made += 1
        self._windows.append(window)
        self._store(self.prefix + ",".join(e.kept), {k: v for k, v in dataclasses.asdict(e).items() if k != "kept"})
        self.progress(f"{len(kept)} kept in FP32 -> {e.verdict} (cos min {e.cosine_min:.5f}, {ratio:.2f}x FP32's step)")
        return e

    def nodes(self, kept: frozenset[str]) -> dict[str, tuple[str, ...]]:
        """The kept components' graph nodes, per stage."""
        keep: dict[str, list[str]] = defaultdict(list)
        for k in sorted(kept):
            keep[self.parts[k].stage] += self.parts[k].nodes
        return {s: tuple(n) for s, n in keep.items()}


def _read_cache(path: Path) -> dict:
    """An evaluation cache, or {} when missing or not one: a folder or FIFO in its place, a file too large, nested
    too deeply or not JSON is skipped unread (each entry is checked again when used)."""
    if not path.exists():
        return {}
    try:
        data = parse_json(read_document(path, "evaluation cache", max_bytes=MAX_CACHE_BYTES), str(path))
    except DeployprofError as exc:
        log.warning("precision-debug: %s; not used", exc)
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """A number read from a cache: finite and in range, else ValueError (the entry is dropped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise ValueError(value)   # NaN fails both comparisons
    return float(value)


def _judged(verdict: object, cosine_min: float, max_abs: float, check: AccuracyCheck, failed_dims: object = ()) -> bool:
    """A cached verdict must be what the rule makes of its own numbers (a PASS beside a NaN or a failing cosine is
    not a PASS); one that names action dimensions over their limits is a FAIL."""
    if failed_dims:
        return verdict == "FAIL" and isinstance(failed_dims, tuple) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in failed_dims)
    err = SimpleNamespace(cosine_min=cosine_min, max_abs=max_abs)
    return verdict == bands_verdict(err, check.atol, check.min_cosine, (), check.atol_per_dim)[0]


def _evaluation(hit: object, kept: frozenset[str], check: AccuracyCheck) -> Optional[Evaluation]:
    """A cached evaluation, validated like a report read from disk; None (evaluated afresh) when any field is not
    what a measurement can produce."""
    try:
        ci = hit.get("vs_fp32_ci")
        e = Evaluation(kept=tuple(sorted(kept)), verdict=hit["verdict"], cosine_min=_number(hit["cosine_min"], -1, 1),
                       max_abs=_number(hit["max_abs"], 0), rel_l2=_number(hit["rel_l2"], 0),
                       seconds=_number(hit["seconds"], 0), vs_fp32=_number(hit["vs_fp32"], 1e-9),
                       fp32_window_ms=_number(hit["fp32_window_ms"], 1e-9),
                       vs_fp32_ci=None if ci is None else (_number(ci[0], 1e-9), _number(ci[1], 1e-9)),
                       failed_dims=tuple(hit.get("failed_dims", ())))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    ordered = e.vs_fp32_ci is None or e.vs_fp32_ci[0] <= e.vs_fp32_ci[1]
    return e if ordered and _judged(e.verdict, e.cosine_min, e.max_abs, check, e.failed_dims) else None


def _confirmation(hit: object, check: AccuracyCheck) -> Optional[Confirmation]:
    try:
        c = Confirmation(samples=hit["samples"], seed=hit["seed"], verdict=hit["verdict"],
                         cosine_min=_number(hit["cosine_min"], -1, 1), max_abs=_number(hit["max_abs"], 0),
                         outside=hit["outside"], outside_bound=_number(hit["outside_bound"], 0, 1),
                         failed_dims=tuple(hit.get("failed_dims", ())))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (c.samples, c.seed, c.outside))
    ok = whole and (c.samples, c.seed) == (check.samples, check.seed) and 0 <= c.outside <= c.samples
    return c if ok and _judged(c.verdict, c.cosine_min, c.max_abs, check, c.failed_dims) else None


def _harm(e: Evaluation) -> float:
    return max(1.0 - e.cosine_min, 0.0)


def lowered_ops(precision: str, calib: CalibrationConfig) -> Callable[[str], bool]:
    """Does the low precision change an op of this type? INT8: the op types ONNX Runtime's static quantizer puts
    Q/DQ around; FP8: the ops lowbit.quantize_fp8 does; INT4: MatMul (weight-only); FP16 and BF16: every op the
    converter does not block. A component with none is not worth two evaluations."""
    if precision == "fp8":
        return set(FP8_OPS).__contains__
    if precision == "int4":
        return "MatMul".__eq__
    if precision == "int8":
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

        quantized = set(QDQRegistry) | set(QLinearOpsRegistry)
        return quantized.__contains__
    from onnxconverter_common import float16

    blocked = set(float16.DEFAULT_OP_BLOCK_LIST) | set(calib.fp16_block_ops)
    return lambda op: op not in blocked


def kept_costs(ev: Evaluator, kept: frozenset[str]) -> dict[str, float]:
    """What keeping each component costs per policy step: the kept set's time minus the time without it, where the
    search judged that set (the pruning step judges each one's removal) and the two timings' intervals are apart;
    a cost their intervals cannot tell from zero is 0.0 (within noise), never a noisy sign."""
    final = ev.cached(kept)
    out = {}
    for k in sorted(kept):
        without = ev.cached(kept - {k})
        if final is not None and without is not None:
            a, b = final.vs_fp32_ci, without.vs_fp32_ci
            apart = a is not None and b is not None and (a[0] > b[1] or b[0] > a[1])
            out[k] = (final.vs_fp32 - without.vs_fp32) * ev.fp32_ms() if apart else 0.0
    return out


def debug_precision(export: "Path | LoadedExport", precision: str, out: Path, backend: str = "ort-cpu", depth: int = 1,
                    accuracy: AccuracyConfig = AccuracyConfig(), calib: CalibrationConfig = CalibrationConfig(),
                    max_evaluations: Optional[int] = None, max_time_s: Optional[float] = None,
                    confirm_samples: Optional[int] = None, progress: Callable[[str], None] = lambda line: None,
                    phases: Callable[[int], None] = lambda n: None, force: bool = False) -> PrecisionDebugReport:
    """Rank the components, search the smallest FP32-kept set that passes, write OUT/precision-debug.json and, when
    one passes, OUT/export-PRECISION-mixed (the precision PRECISION-mixed, its kept nodes in the manifest).
    phases() is told the most evaluations the search can take (a progress bar's length)."""
    if precision not in LOW_PRECISIONS:
        raise ConfigError(f"precision-debug takes --precision {', '.join(LOW_PRECISIONS)}, got {precision!r}")
    subject = load_subject(export)
    if subject.manifest.precision != "fp32":
        raise ConfigError(f"{subject.path} is {subject.manifest.precision}; precision-debug starts from the FP32 export")
    if accuracy.samples < 1:
        raise ConfigError("precision-debug judges actions: --samples must be at least 1")
    with run_folder(Path(out), PRECISION_DEBUG, f"{subject_id(subject.path)} at {precision}", force, progress) as out:
        return _search(subject, precision, out, backend, depth, accuracy, calib, max_evaluations, max_time_s,
                       confirm_samples, progress, phases)


def _search(subject: LoadedExport, precision: str, out: Path, backend: str, depth: int, accuracy: AccuracyConfig,
            calib: CalibrationConfig, max_evaluations: Optional[int], max_time_s: Optional[float],
            confirm_samples: Optional[int], progress: Callable[[str], None],
            phases: Callable[[int], None]) -> PrecisionDebugReport:
    """The search in a claimed run folder: reference, rank, greedy, prune, confirm; the report written each step."""
    started = time.monotonic()
    lowered = lowered_ops(precision, calib)
    every = components(subject, depth)
    parts = [c for c in every if any(lowered(op) for op in c.ops)]
    phases(4 + 4 * len(parts))  # reference, low, all kept, confirmation; ranking 2N, greedy <= N, pruning <= N
    progress(f"reference actions ({accuracy.reference}, {accuracy.samples} seeded policy steps)")
    ref = out / "reference.npz"
    write_reference(subject, accuracy.reference_backend, ref, 1, accuracy.samples, SEED, {})
    check = AccuracyCheck(accuracy.reference, str(ref), accuracy.samples, SEED, accuracy.atol, accuracy.min_cosine,
                          accuracy.atol_per_dim)
    with Evaluator(subject, precision, backend, check, calib, parts, out / "evaluations.json", max_evaluations,
                   max_time_s, progress) as ev:
        search = _Search(subject, precision, out, depth, check, calib, ev, parts, started, progress,
                         confirm_samples or max(CONFIRM_FACTOR * accuracy.samples, CONFIRM_MIN),
                         untouched=tuple(c.key for c in every if c not in parts))
        return search.run()


class _Search:
    """One search's state and its steps: rank each component, keep the most harmful until the actions pass
    (greedy), drop what is not needed (prune), confirm on fresh samples; `report` writes where it stands."""

    def __init__(self, subject: LoadedExport, precision: str, out: Path, depth: int, check: AccuracyCheck,
                 calib: CalibrationConfig, ev: Evaluator, parts: list, started: float,
                 progress: Callable[[str], None], n_confirm: int, untouched: tuple[str, ...]):
        self.subject, self.precision, self.out, self.depth, self.check = subject, precision, out, depth, check
        self.calib, self.ev, self.parts, self.started, self.progress = calib, ev, parts, started, progress
        self.n_confirm, self.untouched = n_confirm, untouched
        self.everything = frozenset(c.key for c in parts)
        self.searched: list[Evaluation] = []        # every set judged, in order
        self.measured: list = []                    # (component, its harm alone, its rescue alone), as ranked so far
        self.ranked: list[Sensitivity] = []
        self.kept: frozenset[str] = frozenset()     # the set the greedy and pruning steps stand at
        self.low: Optional[Evaluation] = None

    def run(self) -> PrecisionDebugReport:
        ev = self.ev
        self.low = ev(frozenset(), force=True)   # these two whatever the budget: without them nothing can be said
        self.searched.append(self.low)
        if ev.selects(self.low):
            return self.finish(frozenset(), f"{self.precision} already passes: nothing needs to stay in FP32")
        all_kept = ev(self.everything, force=True)
        self.searched.append(all_kept)
        if not ev.selects(all_kept):
            return self.report(frozenset(), False,
                               f"{self.precision} cannot be rescued at depth {self.depth}: even with every component "
                               f"in FP32 the actions {all_kept.verdict} (cos min {all_kept.cosine_min:.5f}; the search "
                               f"needs PASS with {SELECT_MARGIN:.0%} of the error budget to spare); the error is in "
                               "what the variant does not keep (graph inputs/outputs, the host loop) or in the "
                               "reference")
        try:
            self.rank()
            if not self.greedy():  # cannot happen while everything kept passes; said, never hidden
                return self.report(frozenset(), False, "the greedy step did not pass with every ranked component kept")
            self.prune()
        except BudgetSpent:
            return self.spent()
        return self.finish(self.kept, "")

    def rank(self) -> None:
        """Each component's harm: the actions with it alone kept at the low precision, and with it alone in FP32."""
        for c in self.parts:
            self.measured.append((c, self.ev(self.everything - {c.key}), self.ev(frozenset({c.key}))))
        total = sum(_harm(o) for _, o, _ in self.measured) or 1.0
        self.ranked = sorted((Sensitivity(c.stage, c.name, len(c.nodes), o, k, _harm(o) / total,
                                          c.nodes if c.name.startswith("(") else ()) for c, o, k in self.measured),
                             key=lambda s: (-s.share, s.stage, s.component))

    def greedy(self) -> bool:
        """The most harmful components kept in FP32, one by one, until the actions pass (False: they never do)."""
        last = self.low
        for s in self.ranked:
            if self.ev.selects(last):
                break
            self.kept = self.kept | {f"{s.stage}:{s.component}"}
            last = self.ev(self.kept)
            self.searched.append(last)
        return self.ev.selects(last)

    def prune(self) -> None:
        """Least harmful first: each kept component dropped again where the actions still pass without it."""
        for s in reversed(self.ranked):
            key = f"{s.stage}:{s.component}"
            if key in self.kept and len(self.kept) > 1:
                trial = self.ev(self.kept - {key})
                self.searched.append(trial)
                if self.ev.selects(trial):
                    self.kept = self.kept - {key}

    def spent(self) -> PrecisionDebugReport:
        """The budget ran out: what the steps so far can still say."""
        ev, kept = self.ev, self.kept
        if not self.ranked:
            return self.report(frozenset(), False,
                               f"budget spent after {ev.made} evaluations, ranking {len(self.measured)} of "
                               f"{len(self.parts)} components: raise --max-evaluations / --max-time")
        if not ev.selects(self.searched[-1]) and not any(ev.selects(e) and e.kept == tuple(sorted(kept))
                                                         for e in self.searched):
            return self.report(frozenset(), False, f"budget spent after {ev.made} evaluations, before the greedy "
                                                   "step passed: raise --max-evaluations / --max-time")
        return self.finish(kept, f"budget spent after {ev.made} evaluations while dropping components: the kept set "
                                 "may be larger than needed")

    def report(self, kept: frozenset[str], passed: bool, note: str, mixed: Optional[str] = None,
               confirmation=None) -> PrecisionDebugReport:
        ev, check = self.ev, self.check
        rule = "limits" if check.atol is not None or check.min_cosine is not None or check.atol_per_dim else "bands"
        if ev.ran_as and "(emulated" in ev.ran_as:   # the search's timings are of that emulation
            note = "; ".join(x for x in (note, f"{ev.backend} ran {ev.ran_as}: the timings are the emulation's, not "
                                               f"{self.precision}'s on hardware with its arithmetic") if x)
        r = PrecisionDebugReport(
            subject=self.subject.path, precision=self.precision, backend=ev.backend, reference=check.reference,
            depth=self.depth, rule=rule, samples=check.samples, low=self.low, untouched=self.untouched,
            components=tuple(self.ranked), search=tuple(self.searched),
            kept=tuple(sorted(kept)), passed=passed, evaluations=ev.made, wall_s=time.monotonic() - self.started,
            fp32_step_ms=ev.fp32_ms(), kept_cost_ms=kept_costs(ev, kept) if passed else {}, mixed_export=mixed,
            note=note, selection_margin=SELECT_MARGIN, confirmation=confirmation)
        write_json_atomic(self.out / "precision-debug.json", document(r))
        return r

    def finish(self, kept: frozenset[str], note: str) -> PrecisionDebugReport:
        """Confirm the kept set on fresh samples (growing it by the next-ranked component when it fails, a few
        rounds), and write the mixed export it passed with."""
        ev, folder = self.ev, self.out / f"export-{self.precision}-mixed"
        spare = [k for k in (f"{s.stage}:{s.component}" for s in self.ranked) if k not in kept]
        for round_ in range(CONFIRM_ROUNDS):
            mixed = prepare_precision(self.subject, f"{self.precision}-mixed", folder, self.calib, ev.nodes(kept))
            fresh = dataclasses.replace(self.check, reference_npz=str(self.out / "confirm-reference.npz"),
                                        seed=CONFIRM_SEED + round_ * 100_000, samples=self.n_confirm)
            self.progress(f"confirming {len(kept)} kept in FP32 on {fresh.samples} fresh policy steps "
                          f"(seed {fresh.seed})")
            conf = ev.confirm(kept, mixed, fresh)
            if conf.verdict == "PASS":
                grown = f"; kept {len(kept)} after {round_} confirmation(s) on fresh samples failed" if round_ else ""
                return self.report(kept, True, note + grown, str(mixed), conf)
            if not spare:
                break
            kept = kept | {spare.pop(0)}
            self.searched.append(ev(kept, force=True))
        shutil.rmtree(folder, ignore_errors=True)  # not the mixed precision: no export left to measure
        return self.report(kept, False,
                           f"the kept set passed the search's {self.check.samples} samples but not {conf.samples} "
                           f"fresh ones ({conf.verdict}, cos min {conf.cosine_min:.5f}, {conf.outside} outside the "
                           f"rule) in {round_ + 1} round(s): calibrate on more --calibration-samples (INT8 ranges "
                           "from a few samples clip inputs outside them), judge on more --samples, or search at a "
                           "finer --depth", confirmation=conf)
