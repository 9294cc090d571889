"""The export manifest: the stages of a policy, their tensors, and how one policy step calls them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .errors import ModelError
from .results import from_dict, to_dict, write_json_atomic

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


@dataclass(frozen=True)
class LoopSpec:
    """How a stage called repeatedly in one policy step is glued on the host.

    euler: flow matching, state <- state + dt * output with time 1 -> 0 in `steps` steps.
    ddim: diffusion, deterministic DDIM update of state from the predicted noise `output`, time steps..1.
    autoregressive: greedy token over the last `bins` ids of `output` (logits), fed back through `state` with the
        `cache` (input, output) pairs; the cache grows along `growing_dim`; the decode stage runs steps - 1 times
        (the prefill's logits give the first token). `result` receives the de-binned actions in [-1, 1]."""
    kind: str
    steps: int
    state: str
    output: str
    time: Optional[str] = None
    cache: tuple[tuple[str, str], ...] = ()
    growing_dim: Optional[str] = None
    bins: Optional[int] = None
    result: Optional[str] = None


@dataclass(frozen=True)
class CallSpec:
    stage: str
    repeat: int = 1
    loop: Optional[LoopSpec] = None


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
    precision: str = "fp32"                # what the graphs carry: fp32, fp16, fp16-naive, int8, int8-dynamic
    precision_info: dict = field(default_factory=dict)  # block list, calibration provenance, ...

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise ModelError(f"manifest has no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def external_inputs(self) -> list[TensorSpec]:
        """Inputs of a policy step: stage inputs that no stage produces."""
        produced = {o.name for s in self.stages for o in s.outputs}
        seen: dict[str, TensorSpec] = {}
        for s in self.stages:
            for t in s.inputs:
                if t.name not in produced and t.name not in s.weight_inputs:
                    seen.setdefault(t.name, t)
        return list(seen.values())

    def write(self, folder: Path) -> None:
        write_json_atomic(Path(folder) / "manifest.json", to_dict(self))


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / "manifest.json"
    try:
        data = json.loads(path.read_text())
        manifest = from_dict(Manifest, data)
    except FileNotFoundError:
        raise ModelError(f"{folder} has no manifest.json; pass an .onnx file or a folder made by `deployprof export`") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is not a valid deployprof manifest ({exc}); re-run `deployprof export`") from None
    if manifest.schema_version != MANIFEST_VERSION:
        raise ModelError(f"{path} has schema_version {manifest.schema_version}, this deployprof reads {MANIFEST_VERSION}")
    for s in manifest.stages:
        if not (Path(folder) / s.file).exists():
            raise ModelError(f"{path}: stage {s.name!r} file {s.file} is missing; re-run `deployprof export`")
    return manifest


_NP_DTYPES = {1: "float32", 10: "float16", 11: "float64", 7: "int64", 6: "int32", 9: "bool", 3: "int8", 2: "uint8", 16: "bfloat16"}


def manifest_for_onnx(path: Path) -> Manifest:
    """A single-stage manifest synthesised from the graph's declared inputs (no weights read)."""
    from .graph.load import _read_model

    model = _read_model(path)
    inits = {i.name for i in model.graph.initializer}

    def spec(vi) -> TensorSpec:
        tt = vi.type.tensor_type
        dtype = _NP_DTYPES.get(tt.elem_type)
        if dtype is None:
            raise ModelError(f"{path.name}: input {vi.name!r} has element type {tt.elem_type}, which deployprof cannot generate; pass --inputs FILE.npz")
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or f"{vi.name}_dim{k}")
                      for k, d in enumerate(tt.shape.dim))
        # Unknown models: integer inputs are filled with ones (valid token ids and attention masks alike).
        dist = "normal" if dtype.startswith(("float", "bfloat")) else "ones"
        return TensorSpec(name=vi.name, dtype=dtype, shape=shape, dist=dist)

    stage = StageSpec(name=path.stem, file=path.name,
                      inputs=tuple(spec(v) for v in model.graph.input if v.name not in inits),
                      outputs=tuple(TensorSpec(o.name, _NP_DTYPES.get(o.type.tensor_type.elem_type, "float32"), ()) for o in model.graph.output))
    return Manifest(schema_version=MANIFEST_VERSION, stages=(stage,), schedule=(CallSpec(stage.name),))


def load_target(target: str | Path) -> tuple[Manifest, Path]:
    """An export folder (with manifest.json) or a plain .onnx file -> (manifest, folder holding its files)."""
    path = Path(target)
    if path.is_dir():
        return read_manifest(path), path
    if path.suffix == ".onnx" or path.exists():
        return manifest_for_onnx(path), path.parent
    raise ModelError(f"model not found: {path} (expected an .onnx file, an export folder or a preset name)")


def sha256_file(path: Path) -> str:
    """The identity of a stage graph in reports and engine cache keys."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
