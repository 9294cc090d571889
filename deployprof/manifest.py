"""The export manifest: the stages of a policy, their tensors, and how one policy step calls them."""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
import onnx
from onnx import TensorProto

from .errors import ConfigError, ModelError
from .files import confine, parse_json, read_document, write_json_atomic
from .graph.load import _read_model, parsed_model  # parsed_model: the one parse per graph
from .precision_names import PRECISIONS
from .serial import from_dict, to_dict

MANIFEST_VERSION = 1
Dim = Union[int, str]


@dataclass(frozen=True)
class TensorSpec:
    """How to make a valid tensor: dtype, shape (symbolic dims by name) and value distribution."""
    name: str
    dtype: str                      # numpy dtype name
    shape: tuple[Dim, ...]
    dist: str = "normal"            # normal | uniform | int | ones
    low: Optional[float] = None
    high: Optional[float] = None    # exclusive for int
    role: Optional[str] = None      # e.g. "kv_cache", "action", "image": what the tensor is to the policy


@dataclass(frozen=True)
class StageSpec:
    name: str
    file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    calls_per_step: int = 1
    weight_inputs: tuple[str, ...] = ()
    parity_max_abs_err: Optional[float] = None

    def own_shapes(self, shapes: Optional[dict[str, tuple[int, ...]]]) -> dict[str, tuple[int, ...]]:
        """The --shape bindings that name this stage's inputs (the others belong to other stages)."""
        names = {t.name for t in self.inputs}
        return {k: v for k, v in (shapes or {}).items() if k in names}


@dataclass(frozen=True)
class SchedulerSpec:
    """A diffusers noise scheduler as the policy's own inference runs it (LeRobot's Diffusion Policy), read off the
    scheduler object at export: the timesteps in order, alpha_bar at each and at the step after it, what the network
    predicts, the clip range of the predicted sample. DDPM adds noise of variance beta~_t after every step but t = 0,
    drawn from a numpy generator seeded with noise_seed (the same noise every policy step: runs compare)."""
    type: str                        # DDPM | DDIM
    timesteps: tuple[int, ...]
    alpha_bar: tuple[float, ...]
    alpha_bar_prev: tuple[float, ...]
    prediction: str = "epsilon"      # epsilon | sample
    clip: Optional[float] = None
    noise_seed: int = 0


@dataclass(frozen=True)
class LoopSpec:
    """How a stage called repeatedly in one policy step is glued on the host.

    euler: flow matching, state <- state + dt * output with time 1 -> 0 in `steps` steps.
    ddim: diffusion, deterministic DDIM update of state from the predicted noise `output`, time steps..1.
    autoregressive: greedy token over the last `bins` ids of `output` (logits), fed back through `state` with the
        `cache` (input, output) pairs; the cache grows along `growing_dim`; the decode stage runs steps - 1 times
        (the prefill's logits give the first token). `result` receives the de-binned actions in [-1, 1].
    diffusers: a diffusers scheduler's steps as exported with the policy (`scheduler`), `time` given each timestep."""
    kind: str
    steps: int
    state: str
    output: str
    time: Optional[str] = None
    cache: tuple[tuple[str, str], ...] = ()
    growing_dim: Optional[str] = None
    bins: Optional[int] = None
    result: Optional[str] = None
    scheduler: Optional[SchedulerSpec] = None


@dataclass(frozen=True)
class CallSpec:
    stage: str
    repeat: int = 1
    loop: Optional[LoopSpec] = None


@dataclass(frozen=True)
class StepParity:
    """The exported policy step against its source's own inference (LeRobot's select_action between its processors)
    on the same observations and noise: the largest |difference| per action dimension over the samples."""
    reference: str
    samples: int
    tolerance: float
    max_abs_err_per_dim: tuple[float, ...]


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    stages: tuple[StageSpec, ...]
    schedule: tuple[CallSpec, ...]
    action_output: Optional[str] = None
    action_shape: tuple[Dim, ...] = ()
    preset: Optional[str] = None
    preset_config: Optional[dict] = None
    family: Optional[str] = None
    exporter: Optional[str] = None
    opset: Optional[int] = None
    default_dims: dict[str, int] = field(default_factory=dict)  # values for symbolic dims other than batch
    static_only: bool = False  # weights are graph inputs without data (full-size meta export): count, don't run
    module_factory: Optional[str] = None  # 'pkg.mod:factory' of a user's own model (export --module)
    precision: str = "fp32"                # what the graphs carry: one of precisions.PRECISIONS
    precision_info: dict = field(default_factory=dict)  # block list, calibration provenance, ...
    notes: tuple[str, ...] = ()            # what the export had to decide, e.g. a batch the model's code fixed
    source: dict[str, str] = field(default_factory=dict)  # where a checkpoint came from (kind, version, type, sha256)
    step_parity: Optional[StepParity] = None
    action_std: tuple[float, ...] = ()     # each action dimension's std in the checkpoint's statistics (LeRobot)

    @property
    def has_policy_step(self) -> bool:
        """Whether a policy step is more than one call of one graph: several stages, or one stage called repeatedly
        or in a loop. The one rule for timing a step, counting its FLOPs and warning about it."""
        return len(self.stages) > 1 or any(c.repeat > 1 or c.loop for c in self.schedule)

    def kept_fp32(self, stage: str) -> tuple[str, ...]:
        """A mixed precision's nodes of `stage` kept in FP32 (checked when the manifest was read)."""
        return tuple(self.precision_info.get("kept_fp32_nodes", {}).get(stage, ()))

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise ModelError(f"manifest has no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def binding(self, batch: int, dims: Optional[dict[str, int]] = None) -> dict[str, int]:
        """Every named dimension at one batch: the export's defaults (e.g. the first decode step's cache length),
        then the user's --dim, then the batch. The one precedence order for inputs, engine profiles, FLOPs and
        memory (a --dim batch is refused at the edge: the batch axis is --batch)."""
        return {**self.default_dims, **(dims or {}), "batch": batch}

    def external_inputs(self) -> list[TensorSpec]:
        """Inputs of a policy step: stage inputs that no stage produces."""
        return external_inputs(self.stages)

    def write(self, folder: Path) -> None:
        write_json_atomic(Path(folder) / "manifest.json", to_dict(self))


def external_inputs(stages: Iterable, schedule: Iterable[CallSpec] = (), loop_state: bool = True) -> list[TensorSpec]:
    """Inputs of a policy step: stage inputs that no stage produces (weights fed as inputs aside). loop_state=False
    also leaves out what the loops themselves set (the denoised state and its time): a dataset's observations."""
    stages = list(stages)
    produced = {o.name for s in stages for o in s.outputs}
    if not loop_state:
        produced |= {n for c in schedule if c.loop for n in (c.loop.state, c.loop.time) if n}
    seen: dict[str, TensorSpec] = {}
    for s in stages:
        for t in s.inputs:
            if t.name not in produced and t.name not in getattr(s, "weight_inputs", ()):
                seen.setdefault(t.name, t)
    return list(seen.values())


MAX_CALLS = 10_000   # stage repeats, loop steps and calls per step a manifest may ask for: work bounded by the file
LOOP_KINDS = ("euler", "ddim", "autoregressive", "diffusers")
SCHEDULERS = ("DDPM", "DDIM")
DISTS = ("normal", "uniform", "int", "ones")


def _int_in(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _check_tensor(where: str, t: TensorSpec) -> None:
    if not isinstance(t.name, str) or not t.name:
        raise ModelError(f"{where}: a tensor has no name")
    if t.dtype not in _NP_DTYPES.values():
        raise ModelError(f"{where}: tensor {t.name!r} has dtype {t.dtype!r}; expected one of {sorted(set(_NP_DTYPES.values()))}")
    bad = [d for d in t.shape if not (isinstance(d, str) and d) and not _int_in(d, 0, 2**62)]
    if bad:
        raise ModelError(f"{where}: tensor {t.name!r} has dimension(s) {bad}; expected sizes >= 0 or symbolic names")
    if t.dist not in DISTS:
        raise ModelError(f"{where}: tensor {t.name!r} has dist {t.dist!r}; expected one of {DISTS}")
    bounds = [v for v in (t.low, t.high) if v is not None]
    if not all(math.isfinite(v) for v in bounds) or (len(bounds) == 2 and not t.low < t.high):
        raise ModelError(f"{where}: tensor {t.name!r} has range low={t.low} high={t.high}; expected finite numbers, low < high")
    if t.dist == "int" and bounds:
        kind = np.dtype(t.dtype) if t.dtype != "bfloat16" else None
        info = np.iinfo(kind) if kind is not None and kind.kind in "iu" else np.iinfo(np.int64)
        if not all(float(v).is_integer() and info.min <= v <= info.max + 1 for v in bounds):
            raise ModelError(f"{where}: tensor {t.name!r} has integer range [{t.low:g}, {t.high:g}); expected whole numbers "
                             f"within {t.dtype} ([{info.min}, {info.max}])")


def _check_scheduler(path: Path, stage: str, loop: "LoopSpec") -> None:
    s, where = loop.scheduler, f"{path}: stage {stage!r} diffusers loop"
    if s is None:
        raise ModelError(f"{where} has no scheduler; re-run `deployprof export`")
    n = len(s.timesteps)
    ok = (s.type in SCHEDULERS and s.prediction in ("epsilon", "sample") and n == loop.steps
          and len(s.alpha_bar) == n == len(s.alpha_bar_prev) and all(_int_in(t, 0, 10**6) for t in s.timesteps)
          and all(isinstance(a, (int, float)) and 0.0 < a < 1.0 for a in s.alpha_bar)      # 1 - alpha_bar divides
          and all(isinstance(a, (int, float)) and 0.0 < a <= 1.0 for a in s.alpha_bar_prev)
          and (s.clip is None or (isinstance(s.clip, (int, float)) and s.clip > 0)) and _int_in(s.noise_seed, 0, 2**63))
    if not ok:
        raise ModelError(f"{where}: the scheduler must be DDPM or DDIM with, per step ({loop.steps}), a timestep, "
                         "alpha_bar in (0, 1) and the next one in (0, 1], prediction epsilon or sample; re-run "
                         "`deployprof export`")


def _check_loop_tensors(path: Path, stage: "StageSpec", loop: "LoopSpec") -> None:
    """A loop glues the stage's own tensors: each one it names must be an input or output of that stage."""
    ins, outs = {t.name for t in stage.inputs}, {t.name for t in stage.outputs}
    wanted = [("state", loop.state, ins), ("output", loop.output, outs), ("time", loop.time, ins)]
    wanted += [(f"cache[{i}]", name, side) for i, pair in enumerate(loop.cache) for name, side in zip(pair, (ins, outs))]
    for field_name, name, side in wanted:
        if name is not None and name not in side:
            kind = "inputs" if side is ins else "outputs"
            raise ModelError(f"{path}: stage {stage.name!r} loop {field_name} names {name!r}, which is not among the "
                             f"stage's {kind} ({', '.join(sorted(side))}); re-run `deployprof export`")


def validate_manifest(m: Manifest, path: Path) -> None:
    """Field by field, so a hand-edited or hostile manifest is one clear error, never a crash or a hang later."""
    if m.schema_version != MANIFEST_VERSION:
        raise ModelError(f"{path} has schema_version {m.schema_version!r}, this deployprof reads {MANIFEST_VERSION}")
    if not m.stages:
        raise ModelError(f"{path} lists no stages; re-run `deployprof export`")
    names = [s.name for s in m.stages]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"{path}: stage names must be unique, non-empty strings, got {names}")
    for s in m.stages:
        if not _int_in(s.calls_per_step, 1, MAX_CALLS):
            raise ModelError(f"{path}: stage {s.name!r} calls_per_step must be an integer in [1, {MAX_CALLS}], got {s.calls_per_step!r}")
        for t in (*s.inputs, *s.outputs):
            _check_tensor(f"{path}: stage {s.name!r}", t)
    outputs = {t.name for s in m.stages for t in s.outputs} | {n for c in m.schedule if c.loop is not None
                                                              for n in (c.loop.state, c.loop.result) if n}
    if m.action_output is not None and (not isinstance(m.action_output, str) or m.action_output not in outputs):
        raise ModelError(f"{path}: action_output {m.action_output!r:.60} is no stage's output; the outputs are "
                         f"{', '.join(sorted(outputs)[:8])}")
    for c in m.schedule:
        if c.stage not in names:
            raise ModelError(f"{path}: the schedule calls stage {c.stage!r}, which is not among {names}")
        if not _int_in(c.repeat, 1, MAX_CALLS):
            raise ModelError(f"{path}: stage {c.stage!r} repeat must be an integer in [1, {MAX_CALLS}], got {c.repeat!r}")
        if c.loop is not None and (c.loop.kind not in LOOP_KINDS or not _int_in(c.loop.steps, 1, MAX_CALLS)):
            raise ModelError(f"{path}: stage {c.stage!r} loop must have kind in {LOOP_KINDS} and steps in [1, {MAX_CALLS}], "
                             f"got {c.loop.kind!r} x {c.loop.steps!r}")
        if c.loop is not None and c.loop.kind == "autoregressive" and not _int_in(c.loop.bins, 1, 2**31):
            raise ModelError(f"{path}: stage {c.stage!r} autoregressive loop needs bins >= 1, got {c.loop.bins!r}")
        if c.loop is not None and c.loop.kind == "diffusers":
            _check_scheduler(path, c.stage, c.loop)
        if c.loop is not None:
            _check_loop_tensors(path, next(s for s in m.stages if s.name == c.stage), c.loop)
    bad = {k: v for k, v in m.default_dims.items() if not _int_in(v, 1, 2**62)}
    if bad:
        raise ModelError(f"{path}: default_dims must be positive integers, got {bad}")
    if m.precision not in PRECISIONS:
        raise ModelError(f"{path}: precision {m.precision!r} is not one of {', '.join(PRECISIONS)}")
    kept = m.precision_info.get("kept_fp32_nodes", {}) if isinstance(m.precision_info, dict) else None
    if not isinstance(kept, dict) or not all(k in names and isinstance(v, list) and all(isinstance(n, str) for n in v)
                                             for k, v in kept.items()):
        raise ModelError(f"{path}: precision_info.kept_fp32_nodes must map stage names to lists of node names; "
                         "re-run `deployprof precision-debug`")
    partial = m.precision_info.get("stages_quantized_at_compute_ops_only", {})
    if not isinstance(partial, dict) or not all(k in names and isinstance(v, str) for k, v in partial.items()):
        raise ModelError(f"{path}: precision_info.stages_quantized_at_compute_ops_only must map stage names to "
                         "reasons; prepare the variant again (`deployprof profile --precisions ...`)")
    if not isinstance(m.action_std, tuple) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and math.isfinite(v) and v >= 0 for v in m.action_std):
        raise ModelError(f"{path}: action_std must be a list of finite, non-negative numbers (one per action "
                         "dimension); export the checkpoint again")
    source = m.precision_info.get("source_export")
    if source is not None and not isinstance(source, str):
        raise ModelError(f"{path}: precision_info.source_export must be a path, got {source!r:.60}")


def read_manifest(folder: Path) -> Manifest:
    folder = Path(folder)
    path = folder / "manifest.json"
    if not os.path.lexists(path):
        raise ModelError(f"{folder} has no manifest.json; pass an .onnx file or a folder made by `deployprof export`")
    data = parse_json(read_document(path, "manifest", ModelError), f"{path} (a manifest; re-run `deployprof export`)")
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a deployprof manifest (a JSON {type(data).__name__}, expected an object)")
    try:
        manifest = from_dict(Manifest, data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path} is not a valid deployprof manifest ({type(exc).__name__}: {exc}); re-run `deployprof export`") from None
    validate_manifest(manifest, path)
    for s in manifest.stages:
        if not confine(folder, s.file, f"{path}: stage {s.name!r} file").is_file():
            raise ModelError(f"{path}: stage {s.name!r} file {s.file} is missing; re-run `deployprof export`")
    return manifest


_NP_DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 9: "bool", 3: "int8", 2: "uint8", 16: "bfloat16"}
GENERATED_DTYPES = frozenset(_NP_DTYPES.values())   # what inputs.make_inputs can make


def manifest_for_onnx(path: Path) -> Manifest:
    """A single-stage manifest synthesised from the graph's declared inputs (no weights read)."""
    model = _read_model(path)
    inits = {i.name for i in model.graph.initializer}

    def spec(vi) -> TensorSpec:
        tt = vi.type.tensor_type
        # a type deployprof cannot generate (a string) is kept by its ONNX name: counting needs no inputs, and
        # generating one says what to pass (inputs.make_inputs)
        dtype = _NP_DTYPES.get(tt.elem_type) or onnx.TensorProto.DataType.Name(tt.elem_type).lower()
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or f"{vi.name}_dim{k}")
                      for k, d in enumerate(tt.shape.dim))
        if any(isinstance(d, int) and d < 0 for d in shape):
            raise ModelError(f"{path.name}: input {vi.name!r} declares a negative dimension {shape}; fix the model's input shape")
        # Unknown models: integer inputs are filled with ones (valid token ids and attention masks alike).
        dist = "normal" if dtype.startswith(("float", "bfloat")) else "ones"
        return TensorSpec(name=vi.name, dtype=dtype, shape=shape, dist=dist)

    stage = StageSpec(name=path.stem, file=path.name,
                      inputs=tuple(spec(v) for v in model.graph.input if v.name not in inits),
                      outputs=tuple(TensorSpec(o.name, _NP_DTYPES.get(o.type.tensor_type.elem_type, "float32"), ()) for o in model.graph.output))
    return Manifest(schema_version=MANIFEST_VERSION, stages=(stage,), schedule=(CallSpec(stage.name),))


@dataclass(frozen=True)
class LoadedExport:
    """What is profiled, loaded: its manifest, the folder holding its graphs, and the path it was given as.
    Unpacks as (manifest, root). A `subject` is the string a user gave (preset, folder, .onnx, checkpoint); a
    LoadedExport is what it became."""
    manifest: Manifest
    root: Path
    path: str

    def __iter__(self):
        return iter((self.manifest, self.root))


def load_subject(subject: "str | Path | LoadedExport") -> LoadedExport:
    """An export folder (with manifest.json) or a plain .onnx file; an already loaded LoadedExport as is."""
    if isinstance(subject, LoadedExport):
        return subject
    path = Path(subject)
    if path.is_dir():
        return LoadedExport(read_manifest(path), path, str(path))
    if path.suffix == ".onnx" or path.exists():
        return LoadedExport(manifest_for_onnx(path), path.parent, str(path))
    raise ModelError(f"model not found: {path} (expected an .onnx file, an export folder or a preset name)")


def check_bindings(subject: LoadedExport, dims: dict[str, int], shapes: dict[str, tuple[int, ...]]) -> None:
    """--dim and --shape against the graph, before any work: an unknown name, a wrong rank or a fixed dimension
    changed is one error naming what is valid (they were once silently ignored, or failed deep in a backend)."""
    manifest = subject.manifest
    named = sorted({d for s in manifest.stages for t in s.inputs for d in t.shape if isinstance(d, str)}
                   | set(manifest.default_dims))
    unknown = sorted(set(dims) - set(named))
    if unknown:
        raise ConfigError(f"--dim {', '.join(unknown)}: no such dimension in {subject.path}; its named dimensions are "
                          f"{', '.join(named) or 'none (every input shape is fixed)'}")
    if shapes and Path(subject.path).is_dir():
        raise ConfigError(f"--shape binds one input of a single .onnx file; {subject.path} is an export folder, whose "
                          f"inputs the manifest shapes: bind its dimensions with --dim NAME=N ({', '.join(named) or 'none'}) "
                          "and the batch with --batch")
    inputs = {t.name: t for t in manifest.external_inputs()}
    for name, shape in shapes.items():
        if name not in inputs:
            raise ConfigError(f"--shape {name}: no such input; the inputs are {', '.join(sorted(inputs))}")
        declared = inputs[name].shape
        if len(shape) != len(declared):
            raise ConfigError(f"--shape {name}={'x'.join(map(str, shape))} has rank {len(shape)}; the input is "
                              f"{list(declared)} (rank {len(declared)})")
        for k, (want, got) in enumerate(zip(declared, shape)):
            if isinstance(want, int) and want != got:
                raise ConfigError(f"--shape {name}: dimension {k} is fixed at {want} in the graph, got {got}")


def sha256_file(path: Path) -> str:
    """A file's SHA-256, streamed (a weights file may be gigabytes)."""
    return _feed(hashlib.sha256(), path).hexdigest()


def _feed(h, path: Path):
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h


def graph_sha256(path: Path) -> str:
    """The identity of a stage graph in reports, engine cache keys and precision-debug's evaluations: the .onnx file
    and, when its weights are external data, each data file it names (new weights under the same graph file are
    another graph). Without external data it is the file's SHA-256."""
    path = Path(path)
    h = _feed(hashlib.sha256(), path)
    graph = parsed_model(path).graph
    locations = sorted({e.value for t in graph.initializer if t.data_location == TensorProto.EXTERNAL
                        for e in t.external_data if e.key == "location"})
    for location in locations:
        _feed(h, confine(path.parent, location, f"{path.name}: external data"))
    return h.hexdigest()
