"""Run one backend over every stage of a target, then over a whole policy step. Meant to run in its own
process (see worker.py) so that memory figures belong to this backend alone."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .backends import BACKENDS, BackendOptions
from .backends.base import Backend
from .devices import cuda_used_bytes
from .inputs import make_inputs
from .manifest import load_target
from .measure.harness import MeasureConfig, Timing, time_callable
from .measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes
from .measure.stats import compute_stats
from .policy import PolicyStep
from .results import ColdStart, MemoryStats, RunResult

POLICY_STEP = "policy_step"


@dataclass(frozen=True)
class RunSpec:
    target: str
    backend: str
    options: BackendOptions = field(default_factory=BackendOptions)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    batch: int = 1
    seed: int = 0
    dims: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    inputs_npz: Optional[str] = None
    stages: bool = True
    policy_step: bool = True


def _result(target: str, spec: RunSpec, backend: Backend, timing: Timing, mem: MemorySampler,
            rss_before: int, load_ms: float, dev_before: Optional[int], stage_mean_ms: Optional[dict] = None) -> RunResult:
    latency = compute_stats([ns / 1e6 for ns in timing.samples_ns])
    device = compute_stats(timing.device_ms) if timing.device_ms else None
    dev_bytes, dev_method = backend.device_memory()
    device_peak = max(filter(None, (mem.device_peak, dev_bytes)), default=None)
    dev_after = cuda_used_bytes(spec.options.device_id) if dev_before is not None else None
    glue = None
    if stage_mean_ms:
        glue = latency.mean_ms - sum(stage_mean_ms.values())
    return RunResult(
        target=target, backend=spec.backend, precision=spec.options.precision, batch=spec.batch,
        build=backend.build_info, latency=latency, device_latency=device,
        throughput_per_s=len(timing.samples_ns) * spec.batch / timing.loop_wall_s if timing.loop_wall_s > 0 else 0.0,
        loop_wall_s=timing.loop_wall_s,
        cold_start=ColdStart(load_ms=load_ms, first_run_ms=timing.first_run_ms,
                             warmup_iterations=len(timing.warmup_ms), steady_after_iterations=timing.steady_after),
        memory=MemoryStats(host_peak_rss_bytes=peak_rss_bytes(), host_rss_before_load_bytes=rss_before,
                           host_rss_sampled_peak_bytes=mem.rss_peak,
                           host_method="VmHWM (ru_maxrss off Linux) of the measuring process, plus a 20 ms RSS sampler",
                           device_peak_bytes=device_peak, device_method=dev_method if device_peak is not None else None,
                           device_allocator_peak_bytes=backend.allocator_peak_bytes(),
                           device_used_delta_bytes=dev_after - dev_before if dev_after is not None else None),
        flops_per_run=None, achieved_gflop_per_s=None, stage_mean_ms=stage_mean_ms or {}, glue_overhead_ms=glue)


def run_backend(spec: RunSpec) -> list[RunResult]:
    manifest, root = load_target(spec.target)
    npz = Path(spec.inputs_npz) if spec.inputs_npz else None
    cls = BACKENDS.get(spec.backend)
    rss_before = current_rss_bytes()
    backends = {s.name: cls(s, root, manifest, spec.options) for s in manifest.stages}
    results: list[RunResult] = []
    first = next(iter(backends.values()))
    dev_before = cuda_used_bytes(spec.options.device_id) if first.uses_gpu() else None
    try:
        for b in backends.values():
            b.load()
        device_probe = lambda: next(iter(backends.values())).device_memory()[0]  # noqa: E731
        multi = len(manifest.stages) > 1 or any(c.repeat > 1 or c.loop for c in manifest.schedule)
        if spec.stages or not multi:
            for stage in manifest.stages:
                b = backends[stage.name]
                feeds = make_inputs(stage.inputs, batch=spec.batch, seed=spec.seed, dims=spec.dims,
                                    shapes=spec.shapes, npz=npz if not multi else None)
                fn = b.bind(feeds)
                with MemorySampler(device_probe=device_probe) as mem:
                    timing = time_callable(fn, b.synchronize, spec.measure, b.device_timer())
                results.append(_result(stage.name, spec, b, timing, mem, rss_before, b.load_ms, dev_before))
        if spec.policy_step and multi:
            external = make_inputs(manifest.external_inputs(), batch=spec.batch, seed=spec.seed,
                                   dims=spec.dims, shapes=spec.shapes, npz=npz)
            step = PolicyStep(manifest, backends)
            with MemorySampler(device_probe=device_probe) as mem:
                timing = time_callable(lambda: step(external), lambda: None, spec.measure, None, before_measure=step.reset)
            results.append(_result(POLICY_STEP, spec, first, timing, mem, rss_before,
                                   sum(b.load_ms for b in backends.values()), dev_before, step.stage_mean_ms()))
    finally:
        for b in backends.values():
            if b.build_info is not None:
                b.close()
    return results
