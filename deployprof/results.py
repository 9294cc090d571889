"""Frozen result records. Units live in field names; JSON round-trips exactly (floats via repr)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional, Union

from .bands import verdict
from .config import MeasureConfig
from .errors import ConfigError, ModelError
from .files import ensure_complete, parse_json, read_document, write_json_atomic
from .serial import define, from_dict, to_dict

SCHEMA_VERSION = 2  # 2: one envelope (schema_version, kind) for every --json; RunResult.stage; settings = MeasureConfig


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
class EngineProvenance:
    """Exactly what a native TensorRT engine is: enough to rebuild it, and to refuse it on another GPU/version."""
    cache_key: str
    engine_path: str
    reused_from_cache: bool
    onnx_path: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    cuda_runtime_version: Optional[str]
    driver_version: Optional[str]
    precision: str
    build_mode: str                      # how precision reached the engine (flags, strongly typed, ...)
    builder_flags: tuple[str, ...]
    strongly_typed: bool
    speed_only: bool                     # INT8 without calibration data or Q/DQ: timings only, outputs meaningless
    shape_profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]  # input -> (min, opt, max)
    builder_settings: dict[str, str]
    build_s: Optional[float]
    engine_bytes: int
    layer_count: Optional[int]
    layer_precisions: dict[str, int]     # from the engine inspector: layers per output data type
    inspector_format: Optional[str]      # "bindings" (TensorRT <= 10) or "io-tensors" (11)
    device_memory_bytes: Optional[int]   # execution-context scratch memory
    weights_bytes: Optional[int]


@dataclass(frozen=True)
class BuildInfo:
    """What was asked for and what actually ran."""
    backend: str
    runtime: str
    runtime_version: str
    device: str
    precision_requested: str
    precision_effective: str
    providers_requested: tuple[str, ...] = ()
    providers_active: tuple[str, ...] = ()
    fallback: bool = False
    options: dict[str, str] = field(default_factory=dict)
    speed_only: bool = False             # timings are real, accuracy is not (uncalibrated INT8)
    engine: Optional[EngineProvenance] = None
    runtime_location: Optional[str] = None  # the file of the runtime module that was imported (which build ran)


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


_STOP_PREFIXES: tuple[tuple[str, Stop], ...] = (("converged:", "converged"), ("time cap", "time_cap"))


def stop_of(r: RunResult) -> Optional[Stop]:
    """Why a run stopped, as data; for reports written before `stop` was recorded, read off the start of the sentence
    (never a substring: "not converged" contains "converged")."""
    if r.stop is not None or not r.stopped_by:
        return r.stop
    return next((kind for prefix, kind in _STOP_PREFIXES if r.stopped_by.startswith(prefix)), None)


def main_stage_of(stages) -> Optional[str]:
    """The one rule for what a summary, a verdict, a sweep cell or a history row is about, given the stages of a
    result in order: the whole policy step when it was measured, else the first (a single graph's only) stage."""
    stages = list(stages)
    return "policy_step" if "policy_step" in stages else (stages[0] if stages else None)


def main_stage(runs) -> Optional[str]:
    return main_stage_of(r.stage for r in runs)


def main_runs(runs) -> list[RunResult]:
    stage = main_stage(runs)
    return [r for r in runs if r.stage == stage]


@dataclass(frozen=True)
class OpTypeCost:
    count: int
    macs: int
    flops: int
    flops_total: int


@dataclass(frozen=True)
class NodeCost:
    name: str
    op_type: str
    input_shapes: tuple[Optional[tuple[int, ...]], ...]
    output_shapes: tuple[Optional[tuple[int, ...]], ...]
    macs: int
    flops: int
    flops_total: int
    bytes: int
    arithmetic_intensity: Optional[float] = None


@dataclass(frozen=True)
class FlopReport:
    """Static cost of one graph. flops = 2 x macs (dense); flops_total adds bias and other work."""
    model: str
    macs: int
    flops: int
    bias_flops: int
    other_flops: int
    flops_total: int
    params: int
    params_by_dtype: dict[str, int]
    weight_bytes: int
    activation_bytes: int
    peak_activation_bytes: int
    io_bytes: int
    arithmetic_intensity: Optional[float]
    by_op_type: dict[str, OpTypeCost]
    unknown_ops: dict[str, int]
    unresolved_nodes: tuple[str, ...]
    lower_bound: bool
    free_nodes: int
    constant_folded_nodes: int
    bound_dims: dict[str, int]
    nodes: tuple[NodeCost, ...] = ()
    assumed_dims: dict[str, int] = field(default_factory=dict)  # unbound input dims counted at 1 (listed, never silent)


@dataclass(frozen=True)
class OutputError:
    """Absolute errors over every element of the output, relative L2 over all of it, cosine per sample."""
    name: str
    max_abs: float
    mean_abs: float
    rel_l2: float
    cosine_mean: float
    cosine_min: float
    p90_abs: Optional[float] = None   # None only in reports of schema 1
    p99_abs: Optional[float] = None


@dataclass(frozen=True)
class AccuracyResult:
    """One configuration (backend, precision, batch) against the reference: the same seeded policy steps (inputs,
    initial noise) through the backend that was timed and through FP32 on the reference runtime."""
    backend: str
    precision: str
    batch: int
    reference: str                            # RUNTIME:PRECISION that produced the reference, e.g. ort-cpu:fp32
    samples: int
    seed: int
    action: OutputError
    per_action_dim_mean_abs: tuple[float, ...]
    per_chunk_step_mean_abs: tuple[float, ...]
    per_denoise_step_mean_abs: tuple[float, ...]
    verdict: str                              # PASS | WARN | FAIL
    rule: str                                 # what decided it: the given limits, or the default bands
    token_agreement: Optional[float] = None   # discrete-action policies: share of identical action bins
    atol: Optional[float] = None
    min_cosine: Optional[float] = None


@dataclass(frozen=True)
class RooflineStage:
    """A latency floor for one call of a stage: its FLOPs at the target's peak, or its minimum memory traffic
    (weights at the precision + graph inputs and outputs) at full bandwidth, whichever is longer."""
    stage: str
    calls_per_step: int
    flops: int
    min_bytes: int
    compute_ms: float
    memory_ms: float
    lower_bound_ms: float
    bound: str                                    # compute | memory
    measured_p50_ms: Optional[float] = None
    efficiency: Optional[float] = None            # lower bound / measured: the share of the roofline reached


@dataclass(frozen=True)
class MemoryNeed:
    weights_bytes: int
    kv_cache_bytes: int
    peak_activation_bytes: int
    total_bytes: int
    device_bytes: int
    fraction_of_device: float
    unified_memory: bool


@dataclass(frozen=True)
class RooflinePrediction:
    target: str
    power_mode: Optional[str]
    precision: str
    peak_tflops: float
    memory_bandwidth_gbs: float
    batch: int
    stages: tuple[RooflineStage, ...]
    step_lower_bound_ms: float
    memory: MemoryNeed
    measured_step_p50_ms: Optional[float] = None
    step_efficiency: Optional[float] = None
    assumptions: str = ""
    measured_on: Optional[str] = None           # the device whose runs are attached (only runs made on the target)
    assumed_dims: dict[str, int] = field(default_factory=dict)  # unbound input dims counted at 1


@dataclass(frozen=True)
class DeviceCheck:
    name: str                       # what was measured
    measured: float
    reference: Optional[float]      # the datasheet's figure (None: no datasheet applies)
    unit: str
    at_spec: Optional[bool]         # measured >= doctor.AT_SPEC x reference; None without a reference
    method: str


@dataclass(frozen=True)
class SelfCheck:
    """The device's measured ceilings against its target profile (`doctor`; `profile --target T` on the device)."""
    device: str
    target: Optional[str]
    power_mode: Optional[str]
    clocks_locked: Optional[bool]
    checks: tuple[DeviceCheck, ...]
    at_spec: Optional[bool]         # every check with a reference at spec; None when nothing had a reference
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    deployprof_version: str
    python: str
    platform: str
    cpu_model: str
    cpu_count: int
    packages: dict[str, Optional[str]]
    gpus: tuple[str, ...] = ()
    driver_version: Optional[str] = None
    jetson_model: Optional[str] = None       # /proc/device-tree/model
    l4t_release: Optional[str] = None        # /etc/nv_tegra_release (JetPack's Linux for Tegra)
    power_mode: Optional[str] = None         # nvpmodel -q
    clocks_locked: Optional[bool] = None     # jetson_clocks --show
    gpu_state: Optional[dict[str, float]] = None  # NVML clocks, power, temperature, P-state when captured
    self_check: Optional[SelfCheck] = None   # `doctor` run as profile --target T's first step, on that device


@dataclass(frozen=True)
class ModelInfo:
    source: str
    preset: Optional[str]
    family: Optional[str]
    stages: tuple[str, ...]
    stage_sha256: dict[str, str]
    calls_per_step: dict[str, int]
    exporter: Optional[str] = None


@dataclass(frozen=True)
class TrainResult:
    """One train-bench run: step-time statistics (same machinery as inference), throughput, convergence, memory.
    Training FLOPs are taken as 3 x the forward's matrix FLOPs (forward + two backward matmuls), as stated."""
    preset: str
    family: str
    loss: str
    device: str
    batch: int
    optimizer: str
    lr: float
    mixed_precision: Optional[str]
    grad_checkpointing: bool
    frozen_params: int
    params: int
    trainable_params: int
    steps: int
    warmup_steps: int
    step_time: LatencyStats              # steps after warm-up, in ms
    samples_per_s: float
    dataset_size: int
    epoch_s: float                       # dataset_size / samples_per_s
    loss_curve: tuple[float, ...]        # every step, warm-up included
    converge_target: float
    converged_step: Optional[int]
    converged_s: Optional[float]
    forward_flops_per_step: int
    train_flops_per_step: int
    achieved_tflops: float               # train FLOPs / p50 step time
    mfu: Optional[float]                 # achieved / the target profile's peak at the training precision
    mfu_target: Optional[str]
    host_peak_rss_bytes: int
    host_rss_before_bytes: int
    device_peak_bytes: Optional[int]
    seed: int


@dataclass(frozen=True)
class Criterion:
    """One line of a qualification: limit, what was measured (or predicted), its CI, the margin and the verdict."""
    name: str
    limit: float
    unit: str
    value: Optional[float]
    ci: Optional[tuple[float, float]]
    margin: Optional[float]              # limit - value for ceilings, value - limit for floors (positive = inside)
    status: str                          # PASS | FAIL | INCONCLUSIVE
    detail: str = ""


@dataclass(frozen=True)
class ConfigVerdict:
    backend: str
    precision: str
    batch: int
    status: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Qualification:
    spec: str
    source: str
    basis: str                            # measured | predicted
    target: Optional[str]
    status: str
    configs: tuple[ConfigVerdict, ...]
    notes: tuple[str, ...] = ()
    measured_on: tuple[str, ...] = ()     # the devices the judged runs were measured on ("kind: name")


@dataclass(frozen=True)
class ProfileReport:
    """report.json: what `profile` and `train-bench` measured, with the model, machine and settings behind it."""
    created_utc: str
    model: ModelInfo
    environment: Environment
    settings: Optional[MeasureConfig]          # None for a training report (its settings are in `training`)
    flops: dict[str, FlopReport]
    policy_step_flops: Optional[int]
    runs: tuple[RunResult, ...]
    warnings: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()             # what bounds each configuration (findings.py), shown first
    precision_info: dict[str, dict] = field(default_factory=dict)
    roofline: tuple[RooflinePrediction, ...] = ()
    training: tuple[TrainResult, ...] = ()

    def write(self, path: Path) -> None:
        write_json_atomic(path, document(self))

    @classmethod
    def read(cls, path: Path) -> "ProfileReport":
        return _read_report(path)


@dataclass(frozen=True)
class BenchResult:
    """`bench --json`: one backend at one precision on an ONNX file or export folder, every run."""
    subject: str
    backend: str
    precision: str
    settings: MeasureConfig
    runs: tuple[RunResult, ...]


@dataclass(frozen=True)
class FlopSummary:
    """`flops --json`: one graph as is (scope graph), or an export folder over one policy step (scope policy_step:
    each stage x its calls per step)."""
    source: str
    scope: str                                   # graph | policy_step
    calls_per_step: dict[str, int]
    macs: int
    flops: int
    bias_flops: int
    other_flops: int
    flops_total: int
    policy_step_flops_total: Optional[int]       # a growing KV cache counted call by call
    params: int                                  # a weight shared by several stages counted once
    params_per_stage: dict[str, int]
    weight_bytes: int
    by_op_type: dict[str, OpTypeCost]
    unknown_ops: dict[str, int]
    unresolved_nodes: tuple[str, ...]
    lower_bound: bool
    assumed_dims: dict[str, int]
    kv_cache_bytes: Optional[int]
    static_only: bool
    stages: dict[str, FlopReport]


@dataclass(frozen=True)
class AccuracyReport:
    """`compare-precision --json`: each precision's actions against the reference on the same seeded steps."""
    subject: str
    reference: str
    samples: int
    accuracy: tuple[AccuracyResult, ...]


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    a_ms: float
    b_ms: float
    delta_pct: float
    delta_ci_pct: tuple[float, float]   # conservative, of the ratio B/A: (B lo / A hi - 1, B hi / A lo - 1) x 100
    verdict: str                        # "regression" | "improvement" | "within noise"


@dataclass(frozen=True)
class RunDelta:
    key: tuple[Union[str, int, bool], ...]    # the matched fields of compare.KEY_FIELDS, in order, as text
    metrics: tuple[MetricDelta, ...]
    throughput_pct: float
    peak_rss_pct: Optional[float]


@dataclass(frozen=True)
class Regression:
    run: tuple[Union[str, int, bool], ...]
    metric: str
    delta_pct: float


@dataclass(frozen=True)
class Comparison:
    """`compare --json`: B against A, run by run; a regression needs the CIs apart (and beyond the threshold)."""
    a: str
    b: str
    runs: tuple[RunDelta, ...]
    only_a: tuple[tuple[Union[str, int, bool], ...], ...]
    only_b: tuple[tuple[Union[str, int, bool], ...], ...]
    context: tuple[str, ...]            # what differs between the two runs' settings, model and machine
    threshold_pct: Optional[float] = None
    regressions: tuple[Regression, ...] = ()


@dataclass(frozen=True)
class Prediction:
    """`predict --json`: the roofline floor of an export on a target, per precision."""
    subject: str
    predictions: tuple[RooflinePrediction, ...]


@dataclass(frozen=True)
class HistoryRow:
    """One stored run of the main stage (the policy step, else the single stage) of one stored result."""
    result_id: int
    created_utc: str
    commit: Optional[str]
    subject: Optional[str]
    device: Optional[str]
    kind: str
    stage: str
    backend: str
    precision: str
    batch: int
    cuda_graph: bool
    p50_ms: float
    p50_ci_ms: Optional[tuple[float, float]]
    p99_ms: float
    p99_ci_ms: Optional[tuple[float, float]]
    throughput_per_s: Optional[float]
    accuracy_cosine_min: Optional[float]
    accuracy_verdict: Optional[str]


@dataclass(frozen=True)
class History:
    """`history --json`: stored runs matching the filters, oldest first."""
    store: str                                   # the store read, without its password
    filters: dict[str, str]
    rows: tuple[HistoryRow, ...]


@dataclass(frozen=True)
class SweepEntry:
    """One configuration of a sweep: done now, reused from the store (checkpoint), or failed (and why)."""
    key: str
    subject: str
    backend: str
    precision: str
    batch: int
    target: Optional[str]
    device: Optional[str]                        # the fleet label it ran on (--ray), or None for this machine
    status: str                                  # done | reused | failed
    error: Optional[str]
    result_id: Optional[int]
    p50_ms: Optional[float]
    p99_ms: Optional[float]
    accuracy_rel_l2: Optional[float]
    accuracy_cosine_min: Optional[float]
    verdict: Optional[str]                       # the spec's verdict (PASS | FAIL | INCONCLUSIVE), if one was given
    measured_on: Optional[str]                   # the device name the run recorded
    node: Optional[str] = None                   # the Ray node that ran it (--ray)
    verdict_reason: Optional[str] = None         # why it is not PASS: the criteria that were not


@dataclass(frozen=True)
class SweepReport:
    """`sweep`: every configuration of a matrix, with where its result lives in the store."""
    name: str
    created_utc: str
    store: str
    entries: tuple[SweepEntry, ...]


# Every --json output and report.json is one of these, under {"schema_version": SCHEMA_VERSION, "kind": KIND}.
DOCUMENTS: dict[str, type] = {"profile": ProfileReport, "bench": BenchResult, "flops": FlopSummary,
                              "accuracy": AccuracyReport, "comparison": Comparison, "prediction": Prediction,
                              "qualification": Qualification, "history": History, "sweep": SweepReport,
                              "selfcheck": SelfCheck}
_KINDS = {cls: kind for kind, cls in DOCUMENTS.items()}


def document(obj) -> dict:
    """The one JSON form of a command's result."""
    return {"schema_version": SCHEMA_VERSION, "kind": _KINDS[type(obj)], **to_dict(obj)}


def document_def(kind: str) -> str:
    """The $defs entry of a document kind: the class's own name, or NameDocument when the class also nests inside
    another document (there without the envelope, e.g. a SelfCheck in a report's environment)."""
    return _document_defs()[kind]


def _document_defs() -> dict[str, str]:
    import json

    defs: dict = {}
    for cls in DOCUMENTS.values():
        define(cls, defs)
    text = json.dumps(defs)
    return {kind: cls.__name__ + ("Document" if f'"#/$defs/{cls.__name__}"' in text else "")
            for kind, cls in DOCUMENTS.items()}


def json_schema() -> dict:
    """JSON Schema (2020-12) of every document, derived from the dataclasses above: docs/schema.json is this."""
    defs: dict = {}
    for cls in DOCUMENTS.values():
        define(cls, defs)
    names = _document_defs()
    for kind, cls in DOCUMENTS.items():
        body = defs[cls.__name__]
        defs[names[kind]] = {**body, "properties": {"schema_version": {"const": SCHEMA_VERSION}, "kind": {"const": kind},
                                                    **body["properties"]},
                             "required": ["schema_version", "kind", *body["required"]]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://deployprof.dev/schema/v{SCHEMA_VERSION}.json",
            "title": f"deployprof output, schema_version {SCHEMA_VERSION}",
            "description": "report.json and every command's --json: an object with schema_version and kind.",
            "oneOf": [{"$ref": f"#/$defs/{names[kind]}"} for kind in DOCUMENTS], "$defs": defs}


def _upgrade_v1(data: dict) -> dict:
    """Schema 1 reports: runs named their stage `target`; settings were a smaller record with `in_process`; accuracy
    was one list by precision, always measured on ort-cpu (so it belongs to the ort-cpu rows only)."""
    data = dict(data, kind="profile")
    runs = [{("stage" if k == "target" else k): v for k, v in r.items()} for r in data.get("runs", [])]
    main = main_stage_of(r["stage"] for r in runs)
    smallest = min((r["batch"] for r in runs), default=1)  # v1 measured accuracy at batch 1: one row per precision
    for a in data.pop("accuracy", []):
        a.pop("passed", None)
        a["reference"] = f"{a['backend']}:{a.pop('reference_precision', 'fp32')}"
        a["verdict"], rule = verdict(from_dict(OutputError, a["action"]), a.get("atol"), a.get("min_cosine"))
        a["rule"] = f"{rule} (schema-1 report: measured on {a['backend']} at batch 1)"
        for r in runs:
            if (r["stage"], r["backend"], r["precision"], r["batch"]) == (main, a["backend"], a["precision"], smallest):
                r["accuracy"] = {**a, "batch": 1}
    data["runs"] = runs
    old = data.get("settings") or {}
    if old.get("batches") and not data.get("training"):
        keep = ("warmup_iterations", "warmup_min_s", "iterations", "duration_s", "batches", "seed", "concurrency", "rate_hz")
        data["settings"] = {**{k: old[k] for k in keep if k in old},
                            "launcher": "inline" if old.get("in_process") else "process"}
    else:
        data["settings"] = None
    return data


MAX_REPORT_BYTES = 512 << 20  # reports before samples were thinned (KEPT_SAMPLES) could reach 200 MB


def _read_report(path: Path) -> ProfileReport:
    """report.json of this schema or of schema 1 (upgraded in memory); anything else is one clear error."""
    path = Path(path)
    ensure_complete(path.parent)
    text = read_document(path, "report", ModelError, max_bytes=MAX_REPORT_BYTES)
    return report_from_data(parse_json(text, f"{path} (a report; re-run `deployprof profile`)"), str(path))


def report_from_data(data: object, origin: str) -> ProfileReport:
    """A profile document (from a file or the results store) of this schema or of schema 1."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version == 1:
        data = _upgrade_v1(data)
    if not isinstance(data, dict) or data.get("schema_version") not in (1, SCHEMA_VERSION) or data.get("kind") != "profile":
        found = (version, data.get("kind")) if isinstance(data, dict) else type(data).__name__
        raise ModelError(f"{origin} is not a deployprof report of schema_version 1 or {SCHEMA_VERSION} (found {found!r}); "
                         "pass a report.json made by `deployprof profile`")
    try:
        report = from_dict(ProfileReport, data, "report")
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
        raise ModelError(f"{origin} is not a complete deployprof report ({type(exc).__name__}: {exc}); "
                         "re-run `deployprof profile`") from None
    for i, r in enumerate(report.runs):
        for lat in (r.latency, r.device_latency):
            if lat is not None:
                lat.check(f"{origin}: runs[{i}] ({r.stage}, {r.backend} {r.precision})")
    if any(len(r.latency.samples_ms) > KEPT_SAMPLES for r in report.runs):  # written before samples were thinned
        report = replace(report, runs=tuple(replace(r, latency=replace(r.latency, samples_ms=thin_samples(r.latency.samples_ms)))
                                            for r in report.runs))
    return report


if __name__ == "__main__":  # python -m deployprof.results > docs/schema.json
    print(json.dumps(json_schema(), indent=1))
