"""Run one backend over every stage of a subject, then over a whole policy step. worker.launch runs it, by default
in a fresh process so that memory figures belong to this backend alone."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .accuracy import AccuracyCheck, measure as measure_accuracy
from .backends import BACKENDS
from .backends.base import Backend
from .breakdown import StaticNode, breakdown, static_nodes
from .config import MeasureConfig
from .devices import device_used
from .errors import ConfigError
from .inputs import make_inputs
from .manifest import Manifest, LoadedExport, load_subject
from .measure.control import idle_gap_latencies, summarize_rate, time_at_rate
from .measure.harness import Timing, time_callable, time_concurrent
from .measure.layer_pass import LAYER_PASS_BUDGET_S, LAYER_PASS_RUNS
from .measure.load import LoadMeter, pinned
from .measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes
from .measure.stats import compute_stats
from .measure.telemetry import Sampler, make_sampler
from .policy import open_policy
from .results import POLICY_STEP, ColdStart, ControlLoopStats, LayerTime, MemoryStats, RunResult, TransferTimes


@dataclass(frozen=True)
class RunSpec:
    """One backend at one batch on one subject (an export folder or .onnx file), measured as `config` says."""
    subject: str
    backend: str
    batch: int = 1
    config: MeasureConfig = field(default_factory=MeasureConfig)
    stages: bool = True
    policy_step: bool = True
    accuracy: Optional[AccuracyCheck] = None   # judge the timed backends' own actions against this reference
    # each stage's nodes with their static cost (breakdown.stage_cost), counted once by whoever planned the runs:
    # the layer-time pass joins with them (a stage missing here is counted by this process)
    static: dict[str, dict[str, StaticNode]] = field(default_factory=dict)


class _Context:
    """What every result of one backend run shares: the spec, memory baselines, the backend that reports."""

    def __init__(self, spec: RunSpec, rss_before: int, uses_gpu: bool):
        self.spec, self.rss_before = spec, rss_before
        self.gpu_index = spec.config.backend_options.gpu_index
        self.dev_before, self.dev_method = device_used(self.gpu_index) if uses_gpu else (None, None)

    def result(self, stage: str, backend: Backend, timing: Timing, mem: MemorySampler, load_ms: float,
               stage_mean_ms: Optional[dict] = None, control: Optional[ControlLoopStats] = None,
               transfers: Optional[TransferTimes] = None, layers: tuple[LayerTime, ...] = (),
               tel: Optional[Sampler] = None, load: Optional[LoadMeter] = None) -> RunResult:
        spec = self.spec
        telemetry = None
        if tel is not None:
            whole = stage == POLICY_STEP or not backend.manifest.has_policy_step
            telemetry = tel.summary(timing.loop_wall_s, len(timing.samples_ns) * spec.batch,
                                              _chunk_length(backend.manifest) if whole else None)
        latency = compute_stats([ns / 1e6 for ns in timing.samples_ns])
        dev_bytes, dev_method = backend.device_memory()
        device_peak = max(filter(None, (mem.device_peak, dev_bytes)), default=None)
        dev_after = device_used(self.gpu_index)[0] if self.dev_before is not None else None
        return RunResult(
            stage=stage, backend=spec.backend, precision=backend.manifest.precision, batch=spec.batch,
            build=backend.build_info, latency=latency,
            device_latency=compute_stats(timing.device_ms) if timing.device_ms else None,
            throughput_per_s=len(timing.samples_ns) * spec.batch / timing.loop_wall_s if timing.loop_wall_s > 0 else 0.0,
            loop_wall_s=timing.loop_wall_s,
            cold_start=ColdStart(load_ms=load_ms, first_run_ms=timing.first_run_ms,
                                 warmup_iterations=len(timing.warmup_ms), steady_after_iterations=timing.steady_after,
                                 warmup_steady=timing.warmup_steady),
            memory=MemoryStats(
                host_peak_rss_bytes=peak_rss_bytes(), host_rss_before_load_bytes=self.rss_before,
                host_rss_sampled_peak_bytes=mem.rss_peak,
                host_method="VmHWM (ru_maxrss off Linux) of the measuring process, plus a 20 ms RSS sampler",
                device_peak_bytes=device_peak, device_method=dev_method if device_peak is not None else None,
                device_allocator_peak_bytes=backend.allocator_peak_bytes(),
                device_used_delta_bytes=dev_after - self.dev_before if dev_after is not None else None,
                device_used_method=self.dev_method if dev_after is not None else None),
            flops_per_run=None, achieved_gflop_per_s=None, stage_mean_ms=stage_mean_ms or {},
            glue_overhead_ms=latency.mean_ms - sum(stage_mean_ms.values()) if stage_mean_ms else None,
            concurrency=spec.config.concurrency, stopped_by=timing.stopped_by or None, stop=timing.stop,
            cuda_graph=spec.config.backend_options.cuda_graph, control=control,
            transfers=transfers, layers=layers, telemetry=telemetry, load=load.result if load else None)


def _chunk_length(manifest: Manifest) -> Optional[int]:
    shape = manifest.action_shape
    return shape[1] if len(shape) >= 2 and isinstance(shape[1], int) else None


def _telemetry(spec: RunSpec, backend: Backend) -> Sampler:
    c = spec.config
    return make_sampler(backend.uses_gpu(), c.backend_options.gpu_index) if c.telemetry else Sampler()


def _measure(ctx: _Context, make_fn: Callable[[], Callable[[], object]], sync, backend: Backend, timer=None,
             before_measure=None) -> tuple[Timing, MemorySampler, Sampler, LoadMeter]:
    spec = ctx.spec
    c = spec.config
    probe = (lambda: backend.device_memory()[0]) if backend.uses_gpu() else None
    with MemorySampler(device_probe=probe) as mem, _telemetry(spec, backend) as tel, LoadMeter() as load:
        if c.concurrency > 1:
            timing = time_concurrent([make_fn() for _ in range(c.concurrency)], sync, c)
        else:
            timing = time_callable(make_fn(), sync, c, timer, before_measure=before_measure)
    return timing, mem, tel, load


def _measure_rate(ctx: _Context, fn, sync, chunk: Optional[int], backend: Backend
                  ) -> tuple[Timing, MemorySampler, ControlLoopStats, Sampler]:
    spec = ctx.spec
    m = spec.config
    requests = m.rate_requests
    warm = time_callable(fn, sync, dataclasses.replace(m, iterations=1, duration_s=None))
    with MemorySampler() as mem, _telemetry(spec, backend) as tel:
        rt = time_at_rate(fn, sync, m.rate_hz, requests)
    gaps = idle_gap_latencies(fn, sync, m.idle_gaps_s) if m.idle_gaps_s else {}
    control = ControlLoopStats(**summarize_rate(rt, m.rate_hz, chunk), idle_gap_latency_ms=gaps)
    timing = Timing(samples_ns=rt.latency_ns, device_ms=None, first_run_ms=warm.first_run_ms, warmup_ms=warm.warmup_ms,
                    steady_after=warm.steady_after, loop_wall_s=rt.wall_s, warmup_steady=warm.warmup_steady,
                    stopped_by=f"{requests} requests at {m.rate_hz:g} Hz", stop="rate")
    return timing, mem, control, tel


def _with_breakdown(r: RunResult, b: Backend, feeds: dict, root: Path, dims: dict[str, int], c: MeasureConfig,
                    graph: Optional[dict[str, StaticNode]]) -> RunResult:
    """The stage's layer-time pass, after its latency pass, joined with the graph's static cost (`graph`, else
    counted here)."""
    why = b.layer_times_unavailable()
    if why:
        return dataclasses.replace(r, breakdown_unavailable=why)
    start = time.perf_counter()
    timed = b.layer_times(feeds, LAYER_PASS_RUNS, LAYER_PASS_BUDGET_S)
    if graph is None:
        graph = static_nodes(root / b.stage.file, dims, b.stage.own_shapes(c.shapes), b.stage.weight_inputs)
    bd = breakdown(b.stage.name, timed, graph, r.latency.mean_ms)
    return dataclasses.replace(r, breakdown=dataclasses.replace(bd, pass_wall_s=time.perf_counter() - start))


def check_concurrency(backend: str, concurrency: int) -> None:
    if concurrency > 1 and not BACKENDS.get(backend).supports_concurrency:
        raise ConfigError(f"backend {backend} cannot share one loaded engine between threads (a TensorRT execution "
                          f"context is not thread-safe): --concurrency {concurrency} is refused; run one process per "
                          "stream, or measure --concurrency on ort-trt")


def run_backend(spec: RunSpec, subject: Optional[LoadedExport] = None) -> list[RunResult]:
    """Every stage on its own, then the whole policy step, then (with spec.accuracy) the actions of these same
    loaded backends against the reference, on the CPUs of --cpus. `subject`: the already loaded export, when inline."""
    with pinned(spec.config.cpus):
        return _run_backend(spec, subject)


def _run_backend(spec: RunSpec, subject: Optional[LoadedExport]) -> list[RunResult]:
    c = spec.config
    check_concurrency(spec.backend, c.concurrency)
    subject = subject or load_subject(spec.subject)
    manifest, root = subject
    if manifest.static_only:
        raise ConfigError(f"{spec.subject} is a shapes-only export (weights are graph inputs without data): it can be "
                          "counted with `deployprof flops` but not run; export a smaller preset, or with --weights real")
    dims = manifest.binding(spec.batch, c.dims)
    npz = Path(c.inputs_npz) if c.inputs_npz else None
    cls = BACKENDS.get(spec.backend)
    multi = manifest.has_policy_step
    blocker = cls.policy_step_blocker(c.backend_options) if spec.policy_step and multi else None
    if blocker:
        raise ConfigError(blocker)
    rss_before = current_rss_bytes()
    options = dataclasses.replace(c.backend_options, batch=spec.batch, dims=dims, shapes=dict(c.shapes),
                                  provider_options=cls.own_options(c.backend_options.provider_options))
    # The device baseline is read before anything loads (constructing a backend loads nothing).
    ctx = _Context(spec, rss_before, cls(manifest.stages[0], root, manifest, options).uses_gpu())
    results: list[RunResult] = []
    with open_policy(subject, spec.backend, options) as step:
        if (spec.stages and c.rate_hz is None) or not multi:
            results += _stage_runs(spec, ctx, step, subject, dims, npz=npz if not multi else None)
        if spec.policy_step and multi:
            results.append(_step_run(spec, ctx, step, manifest, dims, npz))
        main = next((r for r in results if r.stage == POLICY_STEP), results[-1] if len(results) == 1 else None)
        if spec.accuracy is not None and main is not None and not main.build.speed_only:
            acc = measure_accuracy(spec.accuracy, step, spec.backend, spec.batch, c.dims)
            results[results.index(main)] = dataclasses.replace(main, accuracy=acc)
    return results


def _stage_runs(spec: RunSpec, ctx: _Context, step, subject: LoadedExport, dims: dict[str, int],
                npz: Optional[Path]) -> list[RunResult]:
    """Each stage on its own, on inputs of its own (npz: the user's, for a one-stage export), then its layer-time
    pass."""
    c, (manifest, root), out = spec.config, subject, []
    for stage in manifest.stages:
        b = step.backends[stage.name]
        feeds = make_inputs(stage.inputs, batch=spec.batch, seed=c.seed, dims=dims, shapes=c.shapes, npz=npz)
        if c.rate_hz is not None:
            timing, mem, control, tel = _measure_rate(ctx, b.bind(feeds), b.synchronize, _chunk_length(manifest), b)
            out.append(ctx.result(stage.name, b, timing, mem, b.load_ms, control=control, tel=tel))
            continue
        timing, mem, tel, load = _measure(ctx, lambda: b.bind(feeds), b.synchronize, b, b.device_timer())
        r = ctx.result(stage.name, b, timing, mem, b.load_ms, tel=tel, load=load,
                       transfers=b.transfer_times(feeds), layers=b.slowest_layers(feeds))
        out.append(_with_breakdown(r, b, feeds, root, dims, c, spec.static.get(stage.name)) if c.layer_profile else r)
    return out


def _step_run(spec: RunSpec, ctx: _Context, step, manifest, dims: dict[str, int], npz: Optional[Path]) -> RunResult:
    """The whole policy step: paced (--rate), resident on the device where the runtime can keep it there, or fed
    from the host with each stage's mean inside the step."""
    c, first = spec.config, next(iter(step.backends.values()))
    external = make_inputs(manifest.external_inputs(), batch=spec.batch, seed=c.seed, dims=dims, shapes=c.shapes,
                           npz=npz)
    load_ms = sum(b.load_ms for b in step.backends.values())
    if c.rate_hz is not None:
        timing, mem, control, tel = _measure_rate(ctx, lambda: step(external), lambda: None, _chunk_length(manifest),
                                                  first)
        return ctx.result(POLICY_STEP, first, timing, mem, load_ms, control=control, tel=tel)
    if step.can_stay_on_device and c.concurrency == 1:
        on_device = step.to_device(external)
        first.synchronize()
        timing, mem, tel, load = _measure(ctx, lambda: (lambda: step.resident(on_device)), first.synchronize,
                                          first, before_measure=step.reset)
        # No per-stage breakdown here: stage calls only launch work on the device, nothing waits for them.
        return dataclasses.replace(ctx.result(POLICY_STEP, first, timing, mem, load_ms, tel=tel, load=load,
                                              transfers=step.transfer_times(external)), device_resident=True)
    timing, mem, tel, load = _measure(ctx, lambda: (lambda: step(external)), lambda: None, first,
                                      before_measure=step.reset)
    stage_ms = step.stage_mean_ms() if c.concurrency == 1 else None
    return ctx.result(POLICY_STEP, first, timing, mem, load_ms, stage_ms, tel=tel, load=load)
