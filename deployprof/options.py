"""Every option that changes a measurement, declared once: the command line's options are generated from this table
(cli_options.table_options), a sweep's `measure:` keys are its names and are checked by `Option.read`, and both hand
the same values to `config.Settings.from_options`, so `profile --rate 50` and a sweep's `measure: {rate: 50}` build
the same configuration (tests/test_options.py holds them to it)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .config import (CALIBRATION_METHODS, CUDA_GRAPH_MODES, DEFAULT_REFERENCE, EXECUTION_MODES, GRAPH_OPTIMIZATIONS,
                     INT4_METHODS, LIMITS, AccuracyConfig, BackendOptions, CalibrationConfig, MeasureConfig, parse_depth)
from .errors import ConfigError
from .files import confine

MAX_ITEMS = 64          # entries of a repeatable option or a list value in a file
MAX_TEXT = 1_000        # characters of a text value in a file


@dataclass(frozen=True)
class Option:
    """One option. `name` is the click parameter and the sweep key: the flag with dashes as underscores."""
    name: str
    kind: str                      # int | float | flag | switch (--x/--no-x) | choice | text | list | depth | path | repeat
    default: Any = None
    help: str = ""
    group: str = "measure"         # measure | precision | accuracy | profile: the commands that take it (cli_options)
    limit: Optional[str] = None    # its range: config.LIMITS[limit]
    bounds: tuple = ()             # (lo, hi) where LIMITS has no entry (closed at both ends; hi None: unbounded)
    choices: tuple[str, ...] = ()
    metavar: Optional[str] = None
    folder_ok: bool = False        # a path option: a folder is accepted too
    file_ok: bool = True           # False: a sweep sets it otherwise (batch: its `batches` axis)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def range(self) -> tuple[Optional[float], Optional[float], bool]:
        """(lo, hi, lo excluded): LIMITS' floats exclude their lower end (a duration of 0 is no run); bounds include it."""
        if self.limit:
            lo, hi = LIMITS[self.limit]
            return lo, hi, self.kind == "float"
        return (*self.bounds, False) if self.bounds else (None, None, False)

    def read(self, value: Any, where: str, folder: Optional[Path] = None) -> Any:
        """A file's value (YAML types) as the command line would hand it over after parsing, checked as strictly; a
        refusal names the option and what it takes. `folder`: where the file's relative paths start."""
        return _READERS[self.kind](self, value, f"{where}: measure option {self.name}", folder)


def _refused(what: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{what} expects {expected}, got {value!r:.80}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _boolean(o: Option, value: Any, what: str, folder) -> bool:
    if not isinstance(value, bool):
        raise _refused(what, "true or false", value)
    return value


def _choice(o: Option, value: Any, what: str, folder) -> str:
    if isinstance(value, bool) and {"on", "off"} <= set(o.choices):
        value = "on" if value else "off"   # YAML 1.1 reads a bare on/off as a boolean
    if value not in o.choices:
        raise _refused(what, "one of " + ", ".join(o.choices), value)
    return value


def _depth(o: Option, value: Any, what: str, folder) -> int:
    try:
        return parse_depth(value)
    except ConfigError as exc:
        raise ConfigError(f"{what} {exc}") from None


def _number(o: Option, value: Any, what: str, folder) -> float:
    lo, hi, open_lo = o.range()
    integer = o.kind == "int"
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else _is_number(value)
    if not (ok and math.isfinite(value) and (lo is None or value > lo or (value == lo and not open_lo))
            and (hi is None or value <= hi)):
        bounds = [f"{'above' if open_lo else 'at least'} {lo:g}" if lo is not None else "",
                  (f"at most {hi:,}" if integer else f"at most {hi:g}") if hi is not None else ""]
        raise _refused(what, f"{'an integer' if integer else 'a finite number'} "
                             f"{' and '.join(b for b in bounds if b)} (the range of {o.flag})", value)
    return value if integer else float(value)


def _entries(o: Option, value: Any, what: str, folder) -> tuple[str, ...]:
    """NAME=VALUE entries (--dim, --shape, --provider-option): a list of them, or a mapping."""
    if isinstance(value, dict) and all(isinstance(k, str) and (_is_number(v) or isinstance(v, str))
                                       for k, v in value.items()):
        value = [f"{k}={v}" for k, v in value.items()]
    if not (isinstance(value, list) and len(value) <= MAX_ITEMS
            and all(isinstance(i, str) and len(i) <= MAX_TEXT for i in value)):
        raise _refused(what, f"a mapping of names to values or a list of {o.metavar} entries (at most {MAX_ITEMS})",
                       value)
    return tuple(value)


def _text(o: Option, value: Any, what: str, folder) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _refused(what, "text", value)
    return value


def _listed(o: Option, value: Any, what: str, folder) -> str:
    """Comma-separated on the command line (--cpus, --idle-gaps): a list of numbers in a file, or the same text."""
    if isinstance(value, list) and len(value) <= MAX_ITEMS and all(map(_is_number, value)):
        return ",".join(str(v) for v in value)
    if _is_number(value):
        return str(value)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _refused(what, "a list of numbers or text", value)
    return value


def _path(o: Option, value: Any, what: str, folder) -> str:
    """A file (or, where the option takes one, a folder) inside the file's own folder, as every path a file names."""
    path = confine(folder, _text(o, value, what, folder), what) if folder else Path(_text(o, value, what, folder))
    if not (path.exists() and (o.folder_ok or not path.is_dir())):
        raise ConfigError(f"{what}: no {'' if o.folder_ok else 'file '}{value}")
    return str(path)


_READERS = {"flag": _boolean, "switch": _boolean, "choice": _choice, "depth": _depth, "int": _number,
            "float": _number, "repeat": _entries, "list": _listed, "text": _text, "path": _path}


OPTIONS: tuple[Option, ...] = (
    # how long, and how often
    Option("iterations", "int", None, "Timed iterations (default: until the p50's 95% CI is within 1% and the p99's is "
                                  "bounded).", limit="iterations"),
    Option("duration", "float", None, "Seconds of timed iterations (a fixed length).", limit="duration_s"),
    Option("max_duration", "float", MeasureConfig.max_duration_s,
       "Cap of a run without --iterations/--duration, per configuration (seconds).", limit="max_duration_s"),
    Option("min_duration", "float", MeasureConfig.min_duration_s,
       "Least length of a run without --iterations/--duration (seconds; or --max-duration if shorter).",
       limit="min_duration_s"),
    Option("repeats", "int", MeasureConfig.repeats,
       "Measure each configuration N times, each in a fresh process, in shuffled rounds: the between-run spread that "
       "`compare` judges changes by (3 or more to gate on).", limit="repeats"),
    Option("cpus", "list", "", "Pin each measuring process to these CPUs (Linux; e.g. 0,1 or 2-3): a neighbour kept on the "
                           "other cores disturbs less. Recorded in the settings.", metavar="LIST"),
    Option("warmup", "int", MeasureConfig.warmup_iterations, "Warm-up iterations (at least).", limit="warmup_iterations"),
    Option("warmup_time", "float", MeasureConfig.warmup_min_s, "Warm-up seconds (at least).",
       bounds=(0.0, LIMITS["warmup_min_s"][1])),
    # the inputs and the load
    Option("batch", "list", "1", "Batch size(s) bound to the 'batch' axis, comma-separated (e.g. 1,2,4,8).",
       file_ok=False),
    Option("dim", "repeat", (), "Bind a symbolic dimension (repeatable).", metavar="NAME=N"),
    Option("shape", "repeat", (), "Bind an input's shape (repeatable).", metavar="INPUT=AxBxC"),
    Option("concurrency", "int", MeasureConfig.concurrency, "Requests in flight at once (threads sharing one session).",
       limit="concurrency"),
    Option("rate", "float", None, "Control-loop mode: one request per tick at this rate (Hz); reports deadline misses.",
       limit="rate_hz"),
    Option("idle_gaps", "list", "", "With --rate: seconds of idle before probe requests, e.g. 0.5,2."),
    Option("seed", "int", MeasureConfig.seed, "Seed for generated inputs.", limit="seed"),
    Option("inputs", "path", None, "Inputs from an .npz file instead of generated ones."),
    # the runtime
    Option("threads", "int", None, "ONNX Runtime intra-op threads.", limit="intra_op_threads"),
    Option("inter_threads", "int", None, "ONNX Runtime inter-op threads (parallel mode).", limit="inter_op_threads"),
    Option("spin", "switch", BackendOptions.spin,
       "ONNX Runtime threads spin-wait between calls (faster on an idle machine with cores to spare; off: a policy "
       "step's sessions do not fight for the cores, nor other processes on a robot)."),
    Option("execution_mode", "choice", BackendOptions.execution_mode, choices=EXECUTION_MODES),
    Option("graph_opt", "choice", BackendOptions.graph_optimization, choices=GRAPH_OPTIMIZATIONS),
    Option("provider_option", "repeat", (), "Pass an option to the execution provider (e.g. "
                                        "cudnn_conv_algo_search=HEURISTIC).", metavar="KEY=VALUE"),
    Option("cuda_graph", "choice", MeasureConfig.cuda_graph,
       "Time each stage as a captured CUDA graph (ort-cuda, ort-trt, torch on CUDA, trt); both: with and without, "
       "side by side.", choices=tuple(CUDA_GRAPH_MODES)),
    Option("cross_check", "choice", None, "Re-time each TensorRT engine deployprof built with trtexec and report the ratio "
                                      "(trt backend).", choices=("trtexec",)),
    Option("device", "text", BackendOptions.device,
       "Where the backends run: the GPU of ort-cuda, ort-trt and trt (default cuda:0), and the torch backend's device "
       "(default cpu).", metavar="cpu|cuda|cuda:N"),
    Option("allow_fallback", "flag", False, "Record, instead of refusing, a provider that fell back to the CPU."),
    Option("in_process", "flag", False, "Measure in this process (default: a fresh process per backend)."),
    Option("no_telemetry", "flag", False, "Do not sample power/clocks/temperature (tegrastats, jtop, NVML)."),
    Option("layer_profile", "switch", MeasureConfig.layer_profile,
       "After each stage's latency pass, a profiling pass of its own: time per node and per model component beside its "
       "FLOPs, bytes and roofline bound (ort-cpu, torch, trt)."),
    Option("depth", "depth", "auto", "Module depth of the layer-time tables (1: the stage's top-level modules; auto: the "
                                 "deepest at which named modules hold 75% of each stage's time).", metavar="auto|N"),
    # INT8 calibration and the accuracy bands (precision_options)
    Option("calibration", "path", None, "INT8 calibration data: an .npz of policy inputs or a folder of them (default: "
                                    "generated, seeded).", group="precision", folder_ok=True),
    Option("calibration_method", "choice", CalibrationConfig.method, group="precision", choices=CALIBRATION_METHODS),
    Option("int4_method", "choice", CalibrationConfig.int4_method, "INT4 weight scales: awq-clip (each column's clip "
       "searched on calibration activations, as Model Optimizer's awq_clip) or rtn (round to nearest).",
       group="precision", choices=INT4_METHODS),
    Option("calibration_samples", "int", CalibrationConfig.samples, "Policy steps to calibrate on.", group="precision",
       limit="calibration_samples"),
    Option("atol", "list", None, "Accuracy: fail when max |action - FP32 action| exceeds this, in robot units: one "
                                 "number for every action dimension, or one per dimension (e.g. 0.01,0.01,0.02).",
       group="precision", metavar="LIMIT[,LIMIT...]"),
    Option("min_cosine", "float", None, "Accuracy: fail when action cosine similarity drops below.", group="precision",
       bounds=(-1.0, 1.0)),
    # what the actions are judged against, and how the subject is exported (profile)
    Option("reference", "text", DEFAULT_REFERENCE, "The runtime whose FP32 actions every configuration is compared with "
                                               "(e.g. torch:fp32).", group="accuracy", metavar="BACKEND:fp32"),
    Option("accuracy_samples", "int", AccuracyConfig.samples, "Seeded policy steps each configuration's actions are "
                                                          "compared on (0: no accuracy).", group="profile",
       limit="accuracy_samples"),
    Option("exporter", "choice", None, "Force one torch.onnx exporter (default: dynamo, falling back to torchscript).",
       group="profile", choices=("dynamo", "torchscript")),
    Option("task", "text", "", "A LeRobot checkpoint that takes an instruction (SmolVLA): the instruction, fixed at export.",
       group="profile", metavar="TEXT"),
)
BY_NAME = {o.name: o for o in OPTIONS}
# A sweep file's spellings before the table (still read, with a deprecation line): old key -> (new key, value map)
RENAMED = {"launcher": ("in_process", {"process": False, "inline": True}), "dims": ("dim", None),
           "provider_options": ("provider_option", None)}


def defaults() -> dict[str, Any]:
    """Every option at its default, as the command line hands it over when it is not given."""
    return {o.name: o.default if o.kind != "depth" else parse_depth(o.default) for o in OPTIONS}


def markdown() -> str:
    """The table as docs/ARCHITECTURE.md shows it (`python -m deployprof.options`; tests/test_options.py compares)."""
    takes = {"measure": "profile, bench", "precision": "profile, bench, compare-precision, precision-debug",
             "accuracy": "profile, compare-precision, precision-debug", "profile": "profile"}
    also = {"dim": ", flops", "shape": ", flops", "exporter": ", export", "task": ", export"}
    rows = ["| sweep key | option | kind | default | range or choices | commands |", "|---|---|---|---|---|---|"]
    for o in OPTIONS:
        lo, hi, open_lo = o.range() if o.kind != "depth" else (1, LIMITS["layer_depth"][1], False)
        number = (lambda v: f"{v:,}") if o.kind in ("int", "depth") else (lambda v: f"{v:g}")
        span = ", ".join(o.choices) if o.choices else "" if lo is None else \
            f"{'auto, ' * (o.kind == 'depth')}{'(' if open_lo else '['}{number(lo)}, {'∞' if hi is None else number(hi)}]"
        key = o.name if o.file_ok else "(the `batches` axis)"
        default = "" if o.default in (None, "", ()) or o.kind == "flag" else f"`{o.default}`"
        flag = f"{o.flag}/--no-{o.flag[2:]}" if o.kind == "switch" else o.flag
        rows.append(f"| {key} | `{flag}` | {o.kind} | {default} | {span} | {takes[o.group]}{also.get(o.name, '')} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
