"""The one configuration of a measurement: built once from the command line (`MeasureConfig.from_options`), stored
whole in the report as `settings`, and read as is by the pipeline, the launcher, the runner and the harness."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

from .errors import ConfigError
from .precision_names import PRECISIONS, refusal

MAX_DURATION_S = 30.0   # the cap of an adaptive run (no --iterations / --duration) per configuration
LAUNCHERS = ("process", "inline")  # a fresh process per backend (memory attributable to it), or this process
CUDA_GRAPH_MODES = {"off": (False,), "on": (True,), "both": (False, True)}
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")   # ONNX Runtime's graph optimisation levels
EXECUTION_MODES = ("sequential", "parallel")
INT4_METHODS = ("awq-clip", "rtn")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# The range of each measurement setting, shared by the command line's options and a sweep file's `measure:` (a
# sweep asking for 10^12 iterations is refused as `--iterations 10^12` is). Far above any real use: a bound on
# the work and memory a typo can ask for. Integer bounds make an integer setting.
LIMITS: dict[str, tuple[float, float]] = {
    "iterations": (1, 10**7), "duration_s": (0.0, 86_400.0), "max_duration_s": (0.0, 86_400.0),
    "min_duration_s": (0.0, 86_400.0), "warmup_iterations": (0, 10**6), "warmup_min_s": (0.0, 3_600.0),
    "seed": (0, 2**32 - 1), "concurrency": (1, 256), "rate_hz": (0.0, 100_000.0), "intra_op_threads": (1, 1024),
    "inter_op_threads": (1, 1024), "layer_depth": (0, 64), "accuracy_samples": (0, 10_000), "calibration_samples": (1, 10_000),
    "samples": (1, 10_000), "idle_gap_s": (0.0, 3_600.0), "repeats": (1, 100),
    "batch": (1, 2**31 - 1), "store_limit": (1, 10**9)}   # a stored batch or row count: within a SQL integer


RATE_DURATION_S = 10.0   # a paced run (--rate) without --iterations or --duration lasts this long


def limit_error(key: str, value) -> Optional[str]:
    """Why `value` is outside `key`'s range (LIMITS), or None."""
    lo, hi = LIMITS[key]
    if isinstance(lo, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"expects an integer in [{lo}, {hi:,}], got {value!r}"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and lo < value <= hi
    return None if ok else f"expects a finite number above {lo:g} and at most {hi:g}, got {value!r}"


FP32_KEPT_OPS = ("LayerNormalization", "RMSNormalization", "SimplifiedLayerNormalization", "GroupNormalization",
                 "InstanceNormalization", "BatchNormalization", "Softmax", "LogSoftmax", "ReduceMean", "Pow", "Sqrt",
                 "Reciprocal", "Exp", "Sin", "Cos", "Erf")


@dataclass(frozen=True)
class CalibrationConfig:
    """How INT8 and FP8 activations are calibrated and INT4 weights scaled (precision/prepare.py), and which ops
    FP16 and BF16 keep in FP32."""
    method: str = "minmax"            # minmax | entropy | percentile (INT8)
    int4_method: str = "awq-clip"     # awq-clip (a clip searched on calibration activations) | rtn
    samples: int = 8
    seed: int = 0
    source: Optional[str] = None      # .npz file or folder of recorded observations
    fp16_block_ops: tuple[str, ...] = FP32_KEPT_OPS

    @classmethod
    def from_options(cls, o: dict) -> "CalibrationConfig":
        return cls(method=o["calibration_method"], samples=o["calibration_samples"], seed=o.get("seed", 0),
                   source=o["calibration"], int4_method=o["int4_method"])


DEFAULT_REFERENCE = "ort-cpu:fp32"


@dataclass(frozen=True)
class AccuracyConfig:
    """How each configuration's actions are judged (profile, compare-precision, a sweep): against the reference
    runtime's FP32 actions on `samples` seeded policy steps; atol / min_cosine replace the default bands."""
    reference: str = DEFAULT_REFERENCE   # BACKEND:fp32 (the reference is FP32 by definition; any backend may make it)
    samples: int = 8                     # 0: no accuracy
    atol: Optional[float] = None
    min_cosine: Optional[float] = None
    atol_per_dim: tuple[float, ...] = ()  # one limit per action dimension (robot units), instead of atol

    def __post_init__(self):
        backend, sep, precision = self.reference.partition(":")
        if not backend or not sep or precision != "fp32":
            raise ConfigError(f"--reference expects BACKEND:fp32 (e.g. {DEFAULT_REFERENCE} or torch:fp32), "
                              f"got {self.reference!r}")

    @classmethod
    def from_options(cls, o: dict, samples: int) -> "AccuracyConfig":
        """samples: the command's own option (profile's --accuracy-samples, compare-precision's --samples)."""
        limits = parse_limits(o["atol"]) if o["atol"] not in (None, "") else ()
        return cls(reference=o["reference"], samples=samples, atol=limits[0] if len(limits) == 1 else None,
                   min_cosine=o["min_cosine"], atol_per_dim=limits if len(limits) > 1 else ())

    @property
    def reference_backend(self) -> str:
        return self.reference.partition(":")[0]


@dataclass(frozen=True)
class BackendOptions:
    """How a backend builds its session or engine."""
    intra_op_threads: Optional[int] = None
    inter_op_threads: Optional[int] = None
    # ONNX Runtime's pool threads spin-wait for work after each call (allow_spinning). Off by default: a policy step
    # runs its stages' sessions back to back, and each session's spinning threads take the cores the next one needs
    # (pi0-tiny on a loaded 2-core machine: step 4.35 ms with spinning, 2.02 without; docs/BENCHMARKS.md).
    spin: bool = False
    graph_optimization: str = "all"        # disable | basic | extended | all
    execution_mode: str = "sequential"     # sequential | parallel
    provider_options: dict[str, str] = field(default_factory=dict)
    allow_fallback: bool = False
    # The one device setting (--device): cpu, cuda or cuda:N. The GPU backends run on that GPU (cuda:0 when None)
    # and refuse cpu; torch runs on it (the CPU when None); the CPU backends ignore it.
    device: Optional[str] = None
    cache_dir: Optional[str] = None
    cuda_graph: bool = False               # capture each stage as a CUDA graph and time its replay
    # The shapes the backend will be fed, for runtimes that build for fixed shapes (TensorRT profiles).
    batch: int = 1
    dims: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self):
        if self.device is not None and not re.fullmatch(r"cpu|cuda(:\d{1,3})?", self.device):
            raise ConfigError(f"--device expects cpu, cuda or cuda:N (e.g. cuda:1), got {self.device!r}")

    @property
    def gpu_index(self) -> int:
        """N of cuda:N: the GPU ONNX Runtime and TensorRT run on, and where memory and telemetry are read."""
        return int(self.device.partition(":")[2] or 0) if self.device else 0

    @property
    def torch_device(self) -> str:
        return self.device or "cpu"


@dataclass(frozen=True)
class MeasureConfig:
    """How every run of a command is measured: length, inputs, load pattern, where it runs, backend options."""
    warmup_iterations: int = 10          # warm-up runs at least this many calls and warmup_min_s, then until steady
    warmup_min_s: float = 0.2
    warmup_max_s: float = 5.0            # ... or this long, steady or not
    iterations: Optional[int] = None     # a fixed length; with neither this nor duration_s the run is adaptive:
    duration_s: Optional[float] = None   # until the p50's CI is within 1% and the p99's is bounded, or max_duration_s
    max_duration_s: float = MAX_DURATION_S
    min_duration_s: float = 1.0          # an adaptive run lasts at least this (or max_duration_s if shorter)
    max_iterations: int = 1_000_000
    batches: tuple[int, ...] = (1,)
    seed: int = 0
    dims: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    inputs_npz: Optional[str] = None
    concurrency: int = 1
    rate_hz: Optional[float] = None
    idle_gaps_s: tuple[float, ...] = ()
    telemetry: bool = True   # power/clocks/temperature on GPUs and Jetsons (nothing is sampled on a CPU-only machine)
    launcher: str = "process"
    cuda_graph: str = "off"              # off | on | both (each GPU configuration measured with and without)
    cross_check: Optional[str] = None    # "trtexec": NVIDIA's tool re-times each engine deployprof built
    layer_profile: bool = True           # a layer-time pass per stage after its latency pass
    layer_depth: int = 0                 # module depth the tables show, 0: auto, the deepest whose named modules
                                         # hold 75% of the stage (the JSON holds every depth)
    # Independent repetitions of every configuration (each a fresh process unless inline, in shuffled rounds): the
    # between-run spread that `compare` judges a change by (one run's own CI cannot see it).
    repeats: int = 1
    cpus: tuple[int, ...] = ()           # pin the measuring process to these CPUs (Linux), () not pinned
    backend_options: BackendOptions = field(default_factory=BackendOptions)

    def __post_init__(self):
        if self.iterations is not None and self.duration_s is not None:
            raise ConfigError("give --iterations or --duration, not both")
        if (self.iterations is not None and self.iterations < 1) or (self.duration_s is not None and self.duration_s <= 0):
            raise ConfigError("--iterations must be >= 1 and --duration > 0")
        if self.warmup_iterations < 0 or self.warmup_min_s < 0:
            raise ConfigError("--warmup must be >= 0")
        if self.max_duration_s <= 0:
            raise ConfigError("--max-duration must be > 0")
        if not self.batches or min(self.batches) < 1:
            raise ConfigError(f"--batch expects positive integers, got {list(self.batches)}")
        if self.concurrency < 1:
            raise ConfigError("--concurrency must be >= 1")
        if self.rate_hz is not None and (self.rate_requests < 1 or (self.rate_requests + 1) / self.rate_hz > LIMITS["duration_s"][1]):
            raise ConfigError(f"--rate {self.rate_hz:g} Hz makes {self.rate_requests} request(s) over "
                              f"{(self.rate_requests + 1) / self.rate_hz:.3g} s; a paced run needs at least one request "
                              "and ends within a day: raise --rate, or set --iterations / --duration to match it")
        if self.rate_hz is not None and self.concurrency > 1:
            raise ConfigError("--rate sends one request per tick; it does not combine with --concurrency")
        if "batch" in self.dims:
            raise ConfigError("set the batch axis with --batch, not --dim batch=N")
        if self.cuda_graph not in CUDA_GRAPH_MODES:
            raise ConfigError(f"--cuda-graph must be one of {', '.join(CUDA_GRAPH_MODES)}, got {self.cuda_graph!r}")
        if self.cuda_graph != "off" and self.rate_hz is not None:
            raise ConfigError("--cuda-graph times stages back to back; it does not combine with --rate")
        if self.cross_check not in (None, "trtexec"):
            raise ConfigError(f"--cross-check takes trtexec, got {self.cross_check!r}")
        if limit_error("repeats", self.repeats):
            raise ConfigError(f"--repeats {limit_error('repeats', self.repeats)}")
        if limit_error("layer_depth", self.layer_depth):
            raise ConfigError(f"--depth {limit_error('layer_depth', self.layer_depth)}")
        if self.launcher not in LAUNCHERS:
            raise ConfigError(f"launcher must be one of {', '.join(LAUNCHERS)}, got {self.launcher!r}")

    @property
    def rate_requests(self) -> int:
        """The requests a paced run (--rate) sends: --iterations, else --duration (default 10 s) times the rate."""
        return self.iterations or int((self.duration_s or RATE_DURATION_S) * (self.rate_hz or 0))

    @property
    def adaptive(self) -> bool:
        """No length given: sample until the statistics converge (capped at max_duration_s)."""
        return self.iterations is None and self.duration_s is None

    @property
    def stop_after_s(self) -> Optional[float]:
        """Seconds after which the timed loop stops: --duration, or the adaptive run's cap."""
        if self.iterations is not None:
            return None
        return self.duration_s if self.duration_s is not None else self.max_duration_s

    @classmethod
    def from_options(cls, o: dict) -> "MeasureConfig":
        """From the option table's values (options.OPTIONS: the command line's or a sweep's), parsed and checked once."""
        popts = {}
        for item in o["provider_option"]:
            k, sep, v = item.partition("=")
            if not sep or not k:
                raise ConfigError(f"--provider-option expects KEY=VALUE, got {item!r}")
            popts[k] = v
        try:
            gaps = tuple(float(g) for g in o["idle_gaps"].split(",") if g.strip())
        except ValueError:
            gaps = (math.nan,)
        if any(limit_error("idle_gap_s", g) for g in gaps):
            raise ConfigError(f"--idle-gaps expects seconds in (0, 3600] separated by commas, got {o['idle_gaps']!r}")
        if gaps and o["rate"] is None:
            raise ConfigError("--idle-gaps probes a control loop: give --rate HZ too")
        return cls(
            warmup_iterations=o["warmup"], warmup_min_s=o["warmup_time"], iterations=o["iterations"],
            duration_s=o["duration"], max_duration_s=o["max_duration"], min_duration_s=o["min_duration"],
            batches=tuple(parse_batches(o["batch"])), seed=o["seed"], dims=parse_dim_bindings(o["dim"]),
            shapes=parse_shape_bindings(o["shape"]), inputs_npz=o["inputs"], concurrency=o["concurrency"],
            rate_hz=o["rate"], idle_gaps_s=gaps, telemetry=not o["no_telemetry"],
            launcher="inline" if o["in_process"] else "process", cuda_graph=o["cuda_graph"],
            cross_check=o["cross_check"], layer_profile=o["layer_profile"], layer_depth=o["depth"],
            repeats=o["repeats"], cpus=parse_cpus(o["cpus"]),
            backend_options=BackendOptions(
                intra_op_threads=o["threads"], inter_op_threads=o["inter_threads"], spin=o["spin"],
                execution_mode=o["execution_mode"],
                graph_optimization=o["graph_opt"], provider_options=popts, allow_fallback=o["allow_fallback"],
                device=o["device"]))


@dataclass(frozen=True)
class Settings:
    """Everything a profile of one subject is configured by, built from the option table's values: `profile`'s
    command line and a sweep's configuration build it by this one function."""
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    accuracy: AccuracyConfig = field(default_factory=AccuracyConfig)
    exporter: Optional[str] = None
    task: str = ""

    @classmethod
    def from_options(cls, o: dict) -> "Settings":
        return cls(measure=MeasureConfig.from_options(o), calibration=CalibrationConfig.from_options(o),
                   accuracy=AccuracyConfig.from_options(o, o["accuracy_samples"]), exporter=o["exporter"], task=o["task"])


def parse_depth(value) -> int:
    """--depth / a sweep's `depth`: "auto" (0 in MeasureConfig: each stage's own depth) or a depth in [1, 64]."""
    if value == "auto":
        return 0
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text[:4]) <= LIMITS["layer_depth"][1]:
        raise ConfigError(f"expects auto or an integer in [1, {LIMITS['layer_depth'][1]}], got {value!r}")
    return int(text)


def parse_cpus(text: str) -> tuple[int, ...]:
    """--cpus 0,1 or 0-3: CPUs this process may run on here (sched_getaffinity), sorted; "" pins nothing."""
    import os

    if not text.strip():
        return ()
    cpus: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or len(lo) > 4 or len(hi) > 4:
            raise ConfigError(f"--cpus expects CPU numbers or ranges separated by commas (e.g. 0,1 or 0-3), got {text!r}")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if allowed is None:
        raise ConfigError("--cpus pins the measuring process with sched_setaffinity, which this OS does not have")
    if not cpus or not cpus <= allowed:
        raise ConfigError(f"--cpus {text}: this process may run on CPUs {', '.join(map(str, sorted(allowed)))} only")
    return tuple(sorted(cpus))


def parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ConfigError(f"--batch expects positive integers separated by commas, got {text!r}")
    return values


def _count(text: str) -> bool:
    """A positive integer as written in an option: digits only, at most 18 of them (a 5,000-digit number is not
    a size, and Python refuses to parse it)."""
    return text.isdigit() and len(text) <= 18 and int(text) > 0


def parse_dim_bindings(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """--dim NAME=N, repeatable."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not _count(value):
            raise ConfigError(f"--dim expects NAME=VALUE with a positive integer, got {item!r} (e.g. --dim batch=1)")
        out[name] = int(value)
    return out


def parse_shape_bindings(items: tuple[str, ...] | list[str]) -> dict[str, tuple[int, ...]]:
    """--shape INPUT=D1xD2x..., repeatable."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        dims = value.lower().split("x") if sep else []
        if not name or not dims or not all(_count(d) for d in dims):
            raise ConfigError(f"--shape expects INPUT=D1xD2x... of positive integers, got {item!r} "
                              "(e.g. --shape pixel_values=1x3x224x224)")
        out[name] = tuple(int(d) for d in dims)
    return out


def parse_limits(text: "str | float") -> tuple[float, ...]:
    """--atol: one non-negative limit, or a comma list of them (one per action dimension)."""
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) and v >= 0 for v in values) or len(values) > 4096:
        raise ConfigError(f"--atol expects a limit >= 0, or one per action dimension separated by commas "
                          f"(e.g. 0.01,0.01,0.02), got {text!r:.80}")
    return values


def parse_precisions(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"--precisions expects a comma list of {', '.join(PRECISIONS)}, got {text!r}")
    for v in values:
        if refusal(v):
            raise ConfigError(f"--precisions: {refusal(v)}")
    return values


def split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]
