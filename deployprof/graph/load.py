"""Weight-free graph loading: the FLOP counter must stay cheap on multi-GB models with external data."""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import onnx
from onnx import TensorProto

from ..errors import ConfigError, ModelError
from ..files import confine, regular_file
from .fold import fold_shape_arithmetic
from .nodes import NodeView, views
from .propagate import NotPropagated, propagate

log = logging.getLogger(__name__)

Shape = Optional[tuple[int, ...]]
MAX_FOLD_ROUNDS = 8


@dataclass
class LoadedGraph:
    path: Path
    model: onnx.ModelProto
    shapes: dict[str, Shape]   # every value with a fully known static shape (None if unknown)
    dtypes: dict[str, int]     # TensorProto element types
    bound_dims: dict[str, int]
    inference: str             # which shape inference resolved the graph
    requested_dims: dict[str, int] = None  # every --dim given (also loop trip counts by node name)
    assumed_dims: dict[str, int] = None    # input dims nobody bound, set to ASSUMED_DIM (as Polygraphy and ORT's perf tool do)
    nodes: list = None                      # model.graph's nodes as NodeViews (nodes.py), in order


ASSUMED_DIM = 1


def _check_external_locations(graph: onnx.GraphProto, path: Path, nodes: Optional[list[NodeView]] = None) -> None:
    """Untrusted models are normal input: never follow a location outside the model's folder."""
    tensors = list(graph.initializer)
    for node in nodes if nodes is not None else views(graph):
        tensors.extend(v for v in node.attrs.values() if isinstance(v, TensorProto))
        for g in node.subgraphs:
            _check_external_locations(g, path)
    for t in tensors:
        if t.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        if os.path.isabs(location) or location.startswith(("/", "\\")):
            raise ModelError(
                f"{path.name}: tensor {t.name!r} points to external data at {location!r}, outside the model's folder; "
                "refusing to follow it (move the data file next to the model and use a relative location)")
        confine(path.parent, location, f"{path.name}: external data of tensor {t.name!r}")


_SUBGRAPHS = {"Loop": ("body",), "Scan": ("body",), "If": ("then_branch", "else_branch")}


def _check_structure(model: onnx.ModelProto, path: Path, nodes: list[NodeView]) -> None:
    """What the counter would otherwise count as exact: an opset newer than this onnx knows, a negative declared
    dimension, a node reading a value nothing produced before it (a dangling input, or a cycle)."""
    newest = onnx.defs.onnx_opset_version()
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > newest:
            raise ModelError(f"{path.name}: opset {imp.version} is newer than this onnx {onnx.__version__} knows "
                             f"(up to {newest}); upgrade onnx or re-export at opset {newest} or lower")
    for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if any(d < 0 for d in dims):
            raise ModelError(f"{path.name}: {vi.name!r} declares a negative dimension {dims}; fix the model's shapes")
    for t in model.graph.initializer:
        if any(d < 0 for d in t.dims):
            raise ModelError(f"{path.name}: initializer {t.name!r} has a negative dimension {list(t.dims)}; the file is corrupt")
    weights = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in weights and any(d.HasField("dim_value") and d.dim_value == 0 for d in dims):
            raise ModelError(f"{path.name}: input {vi.name!r} declares a zero-size dimension "
                             f"{[d.dim_value if d.HasField('dim_value') else d.dim_param for d in dims]}: it holds no "
                             "elements, and a count of it would be an exact zero; fix the model's input shapes")

    def visit(graph: onnx.GraphProto, outer: set[str], nodes: Optional[list[NodeView]] = None) -> None:
        known = outer | {"", *(t.name for t in graph.initializer), *(i.name for i in graph.input)}
        for node in nodes if nodes is not None else views(graph):
            needs = _SUBGRAPHS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ()
            missing = [k for k in needs if not isinstance(node.attrs.get(k), onnx.GraphProto)]
            if missing:
                raise ModelError(f"{path.name}: {node.op_type} node {node.name or node.output[:1]!r} has no "
                                 f"{' or '.join(missing)} graph (a {node.op_type} needs {', '.join(needs)}); re-export the model")
            for g in node.subgraphs:
                visit(g, known)
            for name in node.input:
                if name not in known:
                    raise ModelError(f"{path.name}: node {node.name or node.op_type!r} reads {name!r}, which no input, "
                                     "initializer or earlier node produces (a dangling input, nodes out of order, or a "
                                     "cycle); re-export the model")
            known.update(node.output)

    visit(model.graph, set(), nodes)


MAX_MODEL_BYTES = 2 << 30  # protobuf's own limit: a bigger .onnx keeps its weights as external data


def _read_model(path: Path) -> onnx.ModelProto:
    if os.path.isdir(path):
        raise ModelError(f"{path} is a folder; pass an .onnx file or an export folder with manifest.json")
    size = regular_file(path, "model file", ModelError).st_size
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path} is {size / 2**30:.1f} GiB; an ONNX file is at most 2 GiB (protobuf's limit), "
                         "larger models keep their weights as external data (onnx.save(..., save_as_external_data=True))")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError / RuntimeWarning variants
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); re-export it or check the file is complete") from None
    if not model.graph.node and not model.graph.output:
        raise ModelError(f"{path} holds no ONNX graph (empty or truncated file); re-export it")
    return model


def _bind_inputs(model: onnx.ModelProto, dims: dict[str, int], shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    init_names = {i.name for i in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in init_names}
    unknown = sorted(set(shapes) - set(inputs))
    if unknown:
        raise ConfigError(f"--shape names unknown input(s) {unknown}; the graph's inputs are {sorted(inputs)}")
    bound: dict[str, int] = {}
    for name, vi in inputs.items():
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        if name in shapes:
            if len(shapes[name]) != len(tt.shape.dim):
                raise ConfigError(f"--shape {name} has rank {len(shapes[name])}, the graph's input has rank {len(tt.shape.dim)}")
            for d, v in zip(tt.shape.dim, shapes[name]):
                if d.HasField("dim_param"):
                    bound[d.dim_param] = v
                elif d.dim_value and d.dim_value != v:
                    raise ConfigError(f"--shape {name}: dimension is fixed at {d.dim_value} in the graph, got {v}")
                d.Clear()
                d.dim_value = v
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            key = d.dim_param
            if key and (key in dims or key in bound):
                val = dims.get(key, bound.get(key))
                bound[key] = val
                d.Clear()
                d.dim_value = val
    return bound


def _assume_unbound(model: onnx.ModelProto, strict: bool) -> dict[str, int]:
    """Graph-input dims still free after binding get ASSUMED_DIM, each listed by name (an unnamed one as
    INPUT[axis]) so the caller can say what was assumed; `strict` refuses instead."""
    init_names = {i.name for i in model.graph.initializer}
    free: dict[str, list] = {}
    for vi in model.graph.input:
        if vi.name in init_names or not vi.type.tensor_type.HasField("shape"):
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.HasField("dim_value"):
                free.setdefault(d.dim_param or f"{vi.name}[{axis}]", []).append(d)
    if free and strict:
        raise ConfigError(f"unbound input dimension(s) {', '.join(sorted(free))}: bind each with --dim NAME=N "
                          "(or --shape INPUT=AxB), or drop --strict to assume 1")
    for protos in free.values():
        for d in protos:
            d.Clear()
            d.dim_value = ASSUMED_DIM
    return {k: ASSUMED_DIM for k in sorted(free)}


def _collect(model: onnx.ModelProto) -> tuple[dict[str, Shape], dict[str, int]]:
    shapes: dict[str, Shape] = {}
    dtypes: dict[str, int] = {}

    def visit(graph: onnx.GraphProto) -> None:
        for t in graph.initializer:
            shapes[t.name] = tuple(int(d) for d in t.dims)
            dtypes[t.name] = t.data_type
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                continue
            dtypes.setdefault(vi.name, tt.elem_type)
            if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
                shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
            else:
                shapes.setdefault(vi.name, None)
        for node in graph.node:
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value":
                        shapes[node.output[0]] = tuple(int(d) for d in a.t.dims)
                        dtypes[node.output[0]] = a.t.data_type
            for attr in node.attribute:
                for g in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                    visit(g)

    visit(model.graph)
    return shapes, dtypes


def _unresolved_count(model: onnx.ModelProto, shapes: dict[str, Shape]) -> int:
    return sum(1 for n in model.graph.node for o in n.output if o and shapes.get(o) is None)


PARSES = 0                     # protobuf parses since start: a test counts them (one per graph, not per binding)
_PARSED: dict[tuple, onnx.ModelProto] = {}
_PARSED_MAX_BYTES = 512 << 20  # graphs with embedded weights are big: keep at most this much parsed (by file size)
_DERIVED: dict[int, dict] = {}  # per cached model: its node plan and binding signature, dropped with it


def parsed_model(path: Path) -> onnx.ModelProto:
    """The graph read, checked and inlined once per file (and version of it) in this process; callers never
    mutate it. External data is never loaded."""
    global PARSES
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _PARSED:
        return _PARSED[key]
    model = _read_model(path)
    PARSES += 1
    nodes = views(model.graph)
    _check_external_locations(model.graph, path, nodes)
    _check_structure(model, path, nodes)
    if model.functions:
        try:
            from onnx import inliner
            model = inliner.inline_local_functions(model)
        except Exception as exc:
            raise ModelError(f"{path.name}: could not inline its local functions ({exc}); re-export without functions") from None
        nodes = views(model.graph)
    if key is not None and key[2] <= _PARSED_MAX_BYTES:
        while _PARSED and sum(k[2] for k in _PARSED) + key[2] > _PARSED_MAX_BYTES:
            _DERIVED.pop(id(_PARSED.pop(next(iter(_PARSED)))), None)
        _PARSED[key] = model
        _DERIVED[id(model)] = {"nodes": nodes}
    return model


def _cached(model: onnx.ModelProto, what: str, make):
    """Something derived from a parsed model, kept as long as the model is (never for an uncached one)."""
    store = _DERIVED.get(id(model))  # holds only models in _PARSED (alive), so an id cannot be a stale one
    if store is None:
        return make()
    if what not in store:
        store[what] = make()
    return store[what]


def _signature(model: onnx.ModelProto) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """A fresh copy of the graph's inputs and initializer names (what binding edits), and the dim names its
    outputs and value_info use (bound too when given): built once per parsed graph, copied per binding."""
    def make() -> tuple[bytes, tuple[str, ...]]:
        mini = onnx.ModelProto()
        mini.graph.input.extend(model.graph.input)
        mini.graph.initializer.extend(onnx.TensorProto(name=t.name) for t in model.graph.initializer)
        names = tuple(dict.fromkeys(d.dim_param for vi in (*model.graph.output, *model.graph.value_info)
                                    for d in vi.type.tensor_type.shape.dim if d.dim_param))
        return mini.SerializeToString(), names

    data, names = _cached(model, "signature", make)
    return onnx.ModelProto.FromString(data), names


def load_graph(path: str | Path, dims: Optional[dict[str, int]] = None,
               shapes: Optional[dict[str, tuple[int, ...]]] = None, strict: bool = False,
               fast: bool = True) -> LoadedGraph:
    """Shapes of every value at one binding of the graph's free dims. The graph is parsed once per process;
    the fast path (propagate.py) gives the shapes in one pass of our own rules, and anything it does not cover
    takes the full path: ONNX's inference, shape-arithmetic folding, ONNX Runtime's symbolic inference."""
    path = Path(path)
    parsed = parsed_model(path)
    if fast:
        try:
            return _fast_shapes(path, parsed, dims, shapes, strict)
        except NotPropagated as why:
            log.info("%s: the fast shape pass stopped (%s); using ONNX's inference (slower)", path.name, why)
    return _full_shapes(path, parsed, dims, shapes, strict)


def _fast_shapes(path: Path, parsed: onnx.ModelProto, dims: Optional[dict[str, int]],
                 shapes: Optional[dict[str, tuple[int, ...]]], strict: bool) -> LoadedGraph:
    """Our own rules in one pass over the parsed graph (its inputs bound on a copy of its signature alone); raises
    NotPropagated where they do not cover a node."""
    sig, other_dims = _signature(parsed)
    bound = _bind_inputs(sig, dict(dims or {}), dict(shapes or {}))
    bound.update({k: dims[k] for k in other_dims if dims and k in dims and k not in bound})
    assumed = _assume_unbound(sig, strict)
    _bind_inputs(sig, assumed, {})
    init_names = {t.name for t in sig.graph.initializer}
    inputs = {}
    for vi in sig.graph.input:
        tt = vi.type.tensor_type
        if vi.name in init_names or not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
            continue
        inputs[vi.name] = (tuple(int(d.dim_value) for d in tt.shape.dim), tt.elem_type)
    nodes = _cached(parsed, "nodes", lambda: views(parsed.graph))
    sh, dt = propagate(parsed.graph, inputs, nodes)
    return LoadedGraph(path=path, model=parsed, shapes=sh, dtypes=dt, bound_dims=bound, inference="deployprof",
                       requested_dims=dict(dims or {}), assumed_dims=assumed, nodes=nodes)


def _full_shapes(path: Path, parsed: onnx.ModelProto, dims: Optional[dict[str, int]],
                 shapes: Optional[dict[str, tuple[int, ...]]], strict: bool) -> LoadedGraph:
    """ONNX's shape inference (with data propagation where values stay small), then shape arithmetic folded to a
    fixed point, then ONNX Runtime's symbolic inference for what is still open: on a copy of the whole model."""
    model = onnx.ModelProto()
    model.CopyFrom(parsed)
    bound = _bind_inputs(model, dict(dims or {}), dict(shapes or {}))
    assumed = _assume_unbound(model, strict)
    _bind_inputs(model, assumed, {})  # the same name in value_info and outputs takes the assumed value too
    try:
        inferred, inference = onnx.shape_inference.infer_shapes(model), "onnx"
    except Exception as exc:
        log.debug("ONNX shape inference failed: %s", exc)
        inferred, inference = model, "none"
    sh, dt = _collect(inferred)
    bounded = _propagation_is_bounded(sh)
    if bounded and inference == "onnx":
        try:
            inferred, inference = onnx.shape_inference.infer_shapes(model, data_prop=True), "onnx(data_prop)"
            sh, dt = _collect(inferred)
        except Exception as exc:
            log.debug("ONNX shape inference with data propagation failed: %s", exc)
    inferred, sh, dt, folded = _fold_to_fixed_point(inferred, sh, dt, bounded)
    inference += "+folded-shape-arithmetic" if folded else ""
    if bounded and _unresolved_count(inferred, sh):
        sym = _symbolic_infer(inferred)
        if sym is not None:
            sh2, dt2 = _collect(sym)
            if _unresolved_count(sym, sh2) < _unresolved_count(inferred, sh):
                inferred, sh, dt, inference = sym, sh2, dt2, "onnxruntime(symbolic)"
    return LoadedGraph(path=path, model=inferred, shapes=sh, dtypes=dt, bound_dims=bound, inference=inference,
                       requested_dims=dict(dims or {}), assumed_dims=assumed, nodes=views(inferred.graph))


def _fold_to_fixed_point(inferred, sh, dt, bounded: bool):
    """Shape arithmetic folded and shapes inferred again, round after round while each resolves more (each round can
    make more Shape inputs static). Returns the model, its shapes and dtypes, and whether any round helped."""
    folded_any = False
    for _ in range(MAX_FOLD_ROUNDS):
        before = _unresolved_count(inferred, sh)
        if not before:
            break
        folded, n = fold_shape_arithmetic(inferred, sh)
        if not n:
            break
        try:
            refolded = onnx.shape_inference.infer_shapes(folded, data_prop=bounded)
        except Exception as exc:
            log.debug("shape inference after folding failed: %s", exc)
            break
        sh2, dt2 = _collect(refolded)
        if _unresolved_count(refolded, sh2) >= before:
            break
        inferred, sh, dt, folded_any = refolded, sh2, dt2, True
    return inferred, sh, dt, folded_any


MAX_PROPAGATED = 1 << 20  # elements of a rank-0/1 value that value propagation may have to hold


def _propagation_is_bounded(shapes: dict[str, Shape]) -> bool:
    """ONNX's data propagation (and ORT's symbolic inference) hold rank-0/1 values element by element: a declared
    [10^12] vector would take terabytes. Above MAX_PROPAGATED they are skipped; shapes then come from plain
    inference and the bounded folding pass, and FLOPs stay exact big integers."""
    return all(s is None or len(s) > 1 or math.prod(s) <= MAX_PROPAGATED for s in shapes.values())


def _symbolic_infer(model: onnx.ModelProto) -> Optional[onnx.ModelProto]:
    """ONNX Runtime's symbolic shape inference resolves some graphs onnx's own pass leaves open."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except Exception:
        return None
    try:
        # SymbolicShapeInference.infer_shapes, less one thing: when inference is incomplete it saves
        # `sym_shape_infer_temp.onnx` (with external data) into the current directory, outside any --out. Its steps are
        # run here instead; should they change, the AttributeError below makes this pass give up, not write.
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < 7:
            return None
        ssi = SymbolicShapeInference(2**31 - 1, True, False, 0)
        complete = False
        ssi._preprocess(model)
        while ssi.run_:
            complete = ssi._infer_impl()
        ssi._update_output_from_vi()
        return ssi.out_mp_ if complete else None
    except Exception as exc:
        log.debug("symbolic shape inference failed: %s", exc)
        return None
