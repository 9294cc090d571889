"""Why a run stopped, its statistics, and the record of one measured configuration."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional

from ..errors import ModelError
from .accuracy import AccuracyResult
from .breakdown import Breakdown
from .build import BuildInfo


# Why a timed loop ended: its fixed count or time, the most samples one run keeps, convergence, the time cap of an
# adaptive run (not converged), or the request count of a fixed-rate run.
Stop = Literal["iterations", "max_iterations", "duration", "converged", "time_cap", "rate"]


KEPT_SAMPLES = 20_000  # raw samples a report keeps per run (every statistic is computed from all of them first)


def thin_samples(samples) -> tuple[float, ...]:
    """At most KEPT_SAMPLES of `samples`, evenly spaced in time order: 3 million samples once made a 197 MB
    report.json and a 140 MB report.html."""
    n = len(samples)
    if n <= KEPT_SAMPLES:
        return tuple(float(v) for v in samples)
    step = n / KEPT_SAMPLES
    return tuple(float(samples[int(i * step)]) for i in range(KEPT_SAMPLES))


@dataclass(frozen=True)
class LatencyStats:
    """Statistics over every sample of a run (`count`). Percentiles are nearest-rank; CIs are binomial order
    statistics. `samples_ms` keeps the samples in time order, thinned evenly to at most KEPT_SAMPLES."""
    samples_ms: tuple[float, ...]
    count: int
    min_ms: float
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    percentile_method: str
    ci_level: float
    ci_ms: dict[str, tuple[float, float]]
    too_few_samples: tuple[str, ...]
    cv: float
    iqr_over_median: float
    drift_ratio: float                   # last third's median against the first third's, 0 unless their CIs are apart
    noisy: bool                          # the load changed during the run (|drift| over 5%, CIs apart)

    def check(self, where: str) -> None:
        """Statistics read back (a report, a store row) must be possible before a verdict or a gate uses them:
        finite and non-negative times, percentiles in order, each confidence interval holding its value."""
        order = ("min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")
        for name in (*order, "mean_ms", "std_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ModelError(f"{where}: {name} is {v}; a latency is a finite, non-negative number")
        if self.count < 0:
            raise ModelError(f"{where}: count is {self.count}")
        values = [getattr(self, n) for n in order]
        if any(a > b * (1 + 1e-9) for a, b in zip(values, values[1:])):
            raise ModelError(f"{where}: percentiles out of order ({', '.join(f'{n}={v:g}' for n, v in zip(order, values))})")
        for key, (lo, hi) in self.ci_ms.items():
            v = getattr(self, f"{key}_ms", None)
            if v is None or not (math.isfinite(lo) and math.isfinite(hi) and lo <= v * (1 + 1e-9) and v <= hi * (1 + 1e-9)):
                raise ModelError(f"{where}: the {key} confidence interval [{lo:g}, {hi:g}] does not hold its value {v}")


@dataclass(frozen=True)
class ColdStart:
    load_ms: float
    first_run_ms: float
    warmup_iterations: int
    steady_after_iterations: int
    warmup_steady: Optional[bool] = None     # did the warm-up end steady (False: it hit its time cap)


@dataclass(frozen=True)
class MemoryStats:
    host_peak_rss_bytes: int
    host_rss_before_load_bytes: int
    host_rss_sampled_peak_bytes: int
    host_method: str
    device_peak_bytes: Optional[int] = None
    device_method: Optional[str] = None
    device_allocator_peak_bytes: Optional[int] = None
    device_used_delta_bytes: Optional[int] = None  # end of run minus before load, read as device_used_method says
    device_used_method: Optional[str] = None


@dataclass(frozen=True)
class ControlLoopStats:
    """Fixed-rate requests (--rate): deadlines, lateness and the action rate a chunked policy can sustain."""
    rate_hz: float
    period_ms: float
    requests: int
    deadline_ms: float
    deadline_misses: int
    deadline_miss_rate: float
    response_p50_ms: float
    response_p99_ms: float
    start_lag_p50_ms: float
    start_lag_max_ms: float
    jitter_ms: float
    chunk_length: Optional[int]
    effective_action_rate_per_s: Optional[float]
    idle_gap_latency_ms: dict[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerTime:
    """One engine layer from a profiling pass separate from the latency pass (the profiler slows every layer)."""
    name: str
    mean_ms: float
    share: float                         # of the summed layer time of this stage
    onnx_nodes: tuple[str, ...]
    stage: str
    precision: Optional[str] = None


@dataclass(frozen=True)
class TransferTimes:
    """Host<->device copies in their own pass (the latency pass leaves them out): CUDA events for a stage; for a
    device-resident policy step, its external inputs in and action out between device synchronisations."""
    h2d_mean_ms: float
    d2h_mean_ms: float
    h2d_bytes: int
    d2h_bytes: int
    repeats: int
    pinned_host_memory: bool


@dataclass(frozen=True)
class TelemetryStats:
    """Power, clocks and temperature sampled while a run was timed (tegrastats / jtop on Jetson, NVML elsewhere)."""
    source: str
    samples: int
    interval_ms: float
    power_mw_mean: dict[str, float]              # per rail (Jetson) or "gpu" (NVML)
    power_mw_max: dict[str, float]
    board_power_rail: Optional[str]              # the rail used for energy (VDD_IN, POM_5V_IN, gpu, or sum of rails)
    energy_per_inference_mj: Optional[float]
    energy_per_action_mj: Optional[float]
    gpu_freq_mhz_min: Optional[float]
    gpu_freq_mhz_max: Optional[float]
    gpu_util_pct_mean: Optional[float]
    temperature_c_max: dict[str, float]
    power_mode: Optional[str]
    clocks_locked: Optional[bool]
    throttled: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Witness:
    """trtexec run on the very engine file this run timed: its GPU compute time beside our CUDA-event time."""
    tool: str
    command: tuple[str, ...]
    gpu_compute_median_ms: float
    gpu_compute_p99_ms: Optional[float]
    ours_device_p50_ms: Optional[float]
    ratio: Optional[float]                 # ours / trtexec's
    agrees: Optional[bool]                 # ratio within 0.98-1.02


@dataclass(frozen=True)
class MeasuredDevice:
    """The device a run's numbers come from: a Jetson board (its CPU or its GPU), a discrete GPU, or a CPU."""
    kind: str                                  # jetson | gpu | cpu
    name: str                                  # /proc/device-tree/model, the NVML GPU name, or the CPU model


@dataclass(frozen=True)
class MachineLoad:
    """What else the machine was doing while a run was timed: the 1-minute load average before and after, and the
    CPU time of every other process during the timed loop, in cores (the machine's busy time minus this process's)."""
    load_1m_before: float
    load_1m_after: float
    other_cores_during: float
    cores: int

    @property
    def busy(self) -> bool:
        """Other processes took at least half a core on average while this run was timed."""
        return self.other_cores_during >= 0.5


@dataclass(frozen=True)
class Repeats:
    """`--repeats N`: the configuration measured N times, each in a fresh process (fresh runtime sessions), in an
    order shuffled with the other configurations. `latency` is then of every repetition's samples pooled; these are
    the repetitions' own statistics, in the order they ran, and the between-run figures computed from them."""
    count: int
    values_ms: dict[str, tuple[float, ...]]         # p50, p90, p95, p99 of each repetition
    between_ci_ms: dict[str, tuple[float, float]]  # 95% t interval of the geometric mean across repetitions
    spread_pct: dict[str, float]                    # sd of the logs across repetitions, %
    flagged: tuple[str, ...] = ()                   # "repetition 2: load changed", ...


@dataclass(frozen=True)
class RunResult:
    stage: str  # a stage name or "policy_step"
    backend: str
    precision: str
    batch: int
    build: BuildInfo
    latency: LatencyStats
    device_latency: Optional[LatencyStats]
    throughput_per_s: float
    loop_wall_s: float
    cold_start: ColdStart
    memory: MemoryStats
    flops_per_run: Optional[int]
    achieved_gflop_per_s: Optional[float]
    stage_mean_ms: dict[str, float] = field(default_factory=dict)
    glue_overhead_ms: Optional[float] = None
    concurrency: int = 1
    control: Optional[ControlLoopStats] = None
    speedup_vs_fp32: Optional[float] = None  # FP32 p50 / this p50, same backend, target and batch
    transfers: Optional[TransferTimes] = None
    layers: tuple[LayerTime, ...] = ()         # slowest layers first
    telemetry: Optional[TelemetryStats] = None
    accuracy: Optional[AccuracyResult] = None  # of this very configuration (the policy step, or the single stage)
    stopped_by: Optional[str] = None           # why the timed loop ended: its fixed length, convergence, or the cap
    cuda_graph: bool = False                   # measured as captured CUDA graphs (--cuda-graph)
    device_resident: bool = False              # a policy step whose stages and loop stayed on the device
    witness: Optional[Witness] = None          # --cross-check trtexec
    stop: Optional[Stop] = None                # stopped_by as data (None in reports before it was recorded)
    measured_on: Optional[MeasuredDevice] = None  # None only in reports before it was recorded
    breakdown: Optional[Breakdown] = None      # time per node and model component, from a pass after the latency pass
    breakdown_unavailable: Optional[str] = None  # why this run has none (--layer-profile on a backend without one)
    load: Optional[MachineLoad] = None         # the machine's load before, during and after the timed loop
    repeats: Optional[Repeats] = None          # --repeats N: every repetition, and the between-run interval


_STOP_PREFIXES: tuple[tuple[str, Stop], ...] = (("converged:", "converged"), ("time cap", "time_cap"))


def stop_of(r: RunResult) -> Optional[Stop]:
    """Why a run stopped, as data; for reports written before `stop` was recorded, read off the start of the sentence
    (never a substring: "not converged" contains "converged")."""
    if r.stop is not None or not r.stopped_by:
        return r.stop
    return next((kind for prefix, kind in _STOP_PREFIXES if r.stopped_by.startswith(prefix)), None)


def run_flags(r: RunResult, metrics=("p50", "p99")) -> list[str]:
    """What makes one run's figures untrustworthy on their own (a repeated run: its repetitions' own flags)."""
    out = []
    if r.latency.noisy:
        out.append(f"load changed during the run (median {r.latency.drift_ratio:+.0%} from first to last third)")
    if stop_of(r) == "time_cap":
        out.append("hit its time cap before its statistics converged")
    few = [m for m in metrics if m in r.latency.too_few_samples]
    if few:
        out.append(f"too few samples to bound {', '.join(few)}")
    if r.load is not None and r.load.busy:
        out.append(f"other processes took {r.load.other_cores_during:.1f} of {r.load.cores} cores while it ran")
    if r.repeats is not None:
        out += list(r.repeats.flagged)
    return out


POLICY_STEP = "policy_step"  # RunResult.stage of a whole policy step (every stage, as the robot calls them)


def main_stage_of(stages) -> Optional[str]:
    """The one rule for what a summary, a verdict, a sweep cell or a history row is about, given the stages of a
    result in order: the whole policy step when it was measured, else the first (a single graph's only) stage."""
    stages = list(stages)
    return POLICY_STEP if POLICY_STEP in stages else (stages[0] if stages else None)


def main_stage(runs) -> Optional[str]:
    return main_stage_of(r.stage for r in runs)


def main_runs(runs) -> list[RunResult]:
    stage = main_stage(runs)
    return [r for r in runs if r.stage == stage]
