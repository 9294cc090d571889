"""Walk a graph once: per-node cost from the handler registry, loops multiplied by their trip count,
constant-foldable nodes free, unknown ops and unresolved shapes reported, never silently zero."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from ..errors import ModelError, UnsupportedOpError
from ..graph import LoadedGraph, load_graph
from ..graph.nodes import NodeView, views
from ..results import FlopReport, NodeCost, OpTypeCost
from .handlers import Cost, Ctx, Unresolved, handler_for

ELEM_BITS = {
    TensorProto.FLOAT: 32, TensorProto.DOUBLE: 64, TensorProto.FLOAT16: 16, TensorProto.BFLOAT16: 16,
    TensorProto.INT8: 8, TensorProto.UINT8: 8, TensorProto.INT16: 16, TensorProto.UINT16: 16,
    TensorProto.INT32: 32, TensorProto.UINT32: 32, TensorProto.INT64: 64, TensorProto.UINT64: 64,
    TensorProto.BOOL: 8, TensorProto.INT4: 4, TensorProto.UINT4: 4,
    TensorProto.FLOAT8E4M3FN: 8, TensorProto.FLOAT8E5M2: 8, TensorProto.COMPLEX64: 64, TensorProto.COMPLEX128: 128,
}
NONDETERMINISTIC = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}
SUBGRAPH_OPS = {"If", "Loop", "Scan"}
INDEX_DTYPES = {TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL}


def tensor_bytes(shape: Optional[tuple[int, ...]], dtype: int) -> int:
    if shape is None:
        return 0
    return (math.prod(shape) * ELEM_BITS.get(dtype, 32) + 7) // 8


@dataclass
class _Acc:
    macs: int = 0
    bias: int = 0
    other: int = 0
    by_op: dict = field(default_factory=dict)
    unknown: Counter = field(default_factory=Counter)
    unresolved: list = field(default_factory=list)
    free: int = 0
    folded: int = 0
    nodes: list = field(default_factory=list)
    node_bytes: int = 0

    def add(self, op: str, cost: Cost, times: int = 1) -> None:
        self.macs += cost.macs * times
        self.bias += cost.bias * times
        self.other += cost.other * times
        c, m, f, t = self.by_op.get(op, (0, 0, 0, 0))
        self.by_op[op] = (c + times, m + cost.macs * times, f + 2 * cost.macs * times,
                          t + (2 * cost.macs + cost.bias + cost.other) * times)


class _Walker:
    def __init__(self, g: LoadedGraph, trip_counts: dict[str, int], keep_nodes: bool, count_bytes: bool = True):
        self.g = g
        self.trip_counts = trip_counts
        self.keep_nodes = keep_nodes
        self.count_bytes = count_bytes
        self.consts: dict[str, onnx.TensorProto] = {}

    def _small_const(self, name: str) -> Optional[np.ndarray]:
        t = self.consts.get(name)
        if t is None or t.data_location == TensorProto.EXTERNAL or math.prod(t.dims) > 64:
            return None
        return numpy_helper.to_array(t)

    def walk(self, graph: onnx.GraphProto, acc: _Acc, times: int, outer_consts: Iterable[str] = (),
             nodes: Optional[list[NodeView]] = None) -> None:
        constant = set(outer_consts) | {t.name for t in graph.initializer}
        for t in graph.initializer:
            self.consts[t.name] = t
        shapes, dtypes = self.g.shapes, self.g.dtypes
        for node in nodes if nodes is not None else views(graph):
            if node.op_type == "Constant" and "value" in node.attrs:
                self.consts[node.output[0]] = node.attrs["value"]
            inputs = [i for i in node.input if i]
            outputs = [o for o in node.output if o]
            if node.op_type not in NONDETERMINISTIC and node.op_type not in SUBGRAPH_OPS and (
                    node.op_type == "Constant" or (inputs and all(i in constant for i in inputs))):
                constant.update(o for o in node.output if o)
                acc.folded += times
                continue
            if node.op_type in SUBGRAPH_OPS:
                self._subgraph(node, acc, times, constant)
                continue
            handler = handler_for(node)
            if handler is None:
                acc.unknown[_key(node)] += times
                continue
            try:
                cost = handler(Ctx(node, shapes))
            except Unresolved as exc:
                acc.unresolved.append(f"{node.name or node.output[0]} ({node.op_type}): shape of {exc} unknown")
                continue
            except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
                acc.unresolved.append(f"{node.name or node.output[0]} ({node.op_type}): malformed ({exc})")
                continue
            if cost.macs == cost.bias == cost.other == 0:
                acc.free += times
            acc.add(_key(node), cost, times)
            if not self.count_bytes:
                continue
            nbytes = sum(tensor_bytes(shapes.get(n), dtypes.get(n, 1)) for n in (*inputs, *outputs))
            acc.node_bytes += nbytes * times
            if self.keep_nodes:
                acc.nodes.append(NodeCost(
                    name=node.name or node.output[0], op_type=_key(node),
                    input_shapes=tuple(shapes.get(i) for i in node.input),
                    output_shapes=tuple(shapes.get(o) for o in node.output),
                    macs=cost.macs * times, flops=2 * cost.macs * times,
                    flops_total=(2 * cost.macs + cost.bias + cost.other) * times, bytes=nbytes * times,
                    arithmetic_intensity=(2 * cost.macs + cost.bias + cost.other) / nbytes if nbytes else None))

    def _subgraph(self, node: NodeView, acc: _Acc, times: int, constant: set) -> None:
        graphs = {k: v for k, v in node.attrs.items() if isinstance(v, onnx.GraphProto)}
        name = node.name or node.output[0]
        acc.add(node.op_type, Cost(), times)
        need = ("then_branch", "else_branch") if node.op_type == "If" else ("body",)
        if any(k not in graphs for k in need):
            raise ModelError(f"{self.g.path.name}: {node.op_type} {name!r} has no {' or '.join(need)} graph attribute; "
                             "the graph is malformed (re-export it)")
        if node.op_type == "If":
            # Count the costlier branch: a static upper bound for either outcome.
            branches = []
            for key in ("then_branch", "else_branch"):
                sub = _Acc()
                self.walk(graphs[key], sub, times, constant)
                branches.append(sub)
            _merge(acc, max(branches, key=lambda a: 2 * a.macs + a.bias + a.other))
            return
        if node.op_type == "Loop":
            trips = self.trip_counts.get(name)
            if trips is None and node.input and node.input[0]:
                val = self._small_const(node.input[0])
                if val is not None and (val.size != 1 or val.dtype.kind not in "iu"):
                    raise ModelError(f"{self.g.path.name}: Loop {name!r} has trip count {val.tolist()!r:.60}; a trip "
                                     "count is one integer")
                trips = int(val.reshape(-1)[0]) if val is not None else None
            if trips is not None and trips < 0:
                raise ModelError(f"{self.g.path.name}: Loop {name!r} has trip count {trips}; a trip count is >= 0")
            body = graphs["body"]
        else:  # Scan: trip count = length of the first scan input along its axis
            trips = self.trip_counts.get(name, self._scan_length(node, name))
            body = graphs["body"]
        if not isinstance(trips, int):
            acc.unresolved.append(f"{name} ({node.op_type}): dynamic trip count; bind it with --dim {name}=N")
            return
        self.walk(body, acc, times * trips, constant)

    def _scan_length(self, node: NodeView, name: str) -> Optional[int]:
        """The length of a Scan's first scan input along its axis (None: not static); malformed attributes are one
        error naming them."""
        k, axes = node.attrs.get("num_scan_inputs"), node.attrs.get("scan_input_axes") or [0]
        if not isinstance(k, int) or not 1 <= k <= len(node.input):
            raise ModelError(f"{self.g.path.name}: Scan {name!r} has num_scan_inputs {k!r}; expected 1 to its "
                             f"{len(node.input)} inputs")
        shape = self.g.shapes.get(node.input[len(node.input) - k])
        axis = axes[0] if isinstance(axes, (list, tuple)) and isinstance(axes[0], int) else None
        if axis is None or (shape is not None and not -len(shape) <= axis < len(shape)):
            raise ModelError(f"{self.g.path.name}: Scan {name!r} has scan_input_axes {axes!r:.60}; expected an axis of "
                             f"its first scan input (rank {len(shape) if shape is not None else 'unknown'})")
        return shape[axis] if shape is not None else None


def _merge(dst: _Acc, src: _Acc) -> None:
    dst.macs += src.macs
    dst.bias += src.bias
    dst.other += src.other
    for op, (c, m, f, t) in src.by_op.items():
        c0, m0, f0, t0 = dst.by_op.get(op, (0, 0, 0, 0))
        dst.by_op[op] = (c0 + c, m0 + m, f0 + f, t0 + t)
    dst.unknown.update(src.unknown)
    dst.unresolved.extend(src.unresolved)
    dst.free += src.free
    dst.folded += src.folded
    dst.nodes.extend(src.nodes)
    dst.node_bytes += src.node_bytes


def _key(node: NodeView) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _params(model: onnx.ModelProto, weight_inputs: set[str]) -> tuple[int, dict[str, int], int]:
    seen: dict[str, tuple[tuple[int, ...], int]] = {}

    def visit(graph: onnx.GraphProto) -> None:
        for t in graph.initializer:
            seen.setdefault(t.name, (tuple(t.dims), t.data_type))
        for n in graph.node:
            for a in n.attribute:
                for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    visit(g)

    visit(model.graph)
    for vi in model.graph.input:
        if vi.name in weight_inputs and vi.name not in seen:
            tt = vi.type.tensor_type
            seen[vi.name] = (tuple(d.dim_value for d in tt.shape.dim), tt.elem_type)
    by_dtype: Counter = Counter()
    total_bytes = 0
    for shape, dtype in seen.values():
        if dtype in INDEX_DTYPES:  # shape/index constants, not weights
            continue
        n = math.prod(shape)
        by_dtype[TensorProto.DataType.Name(dtype).lower()] += n
        total_bytes += (n * ELEM_BITS.get(dtype, 32) + 7) // 8
    return sum(by_dtype.values()), dict(by_dtype), total_bytes


def _activation_memory(g: LoadedGraph, weights: set[str]) -> tuple[int, int]:
    """Total bytes of intermediates and the peak of live tensors walking nodes in order."""
    graph = g.model.graph
    last_use: dict[str, int] = {}
    for idx, node in enumerate(g.nodes):
        for i in node.input:
            last_use[i] = idx
    outputs = {o.name for o in graph.output}
    size = lambda n: tensor_bytes(g.shapes.get(n), g.dtypes.get(n, 1))  # noqa: E731
    live = {vi.name: size(vi.name) for vi in graph.input if vi.name not in weights}
    current = sum(live.values())
    peak = current
    total = 0
    for idx, node in enumerate(g.nodes):
        for o in node.output:
            if o and node.op_type != "Constant":
                live[o] = size(o)
                current += live[o]
                total += live[o]
        peak = max(peak, current)
        for i in set(node.input):
            if i in live and last_use.get(i) == idx and i not in outputs:
                current -= live.pop(i)
    return total, peak


def analyze_graph(g: LoadedGraph, *, per_node: bool = False, strict: bool = False,
                  weight_inputs: Iterable[str] = (), trip_counts: Optional[dict[str, int]] = None) -> FlopReport:
    weights = set(weight_inputs)
    acc = _Acc()
    walker = _Walker(g, trip_counts if trip_counts is not None else (g.requested_dims or {}), per_node)
    walker.walk(g.model.graph, acc, 1, weights, g.nodes)
    if strict and (acc.unknown or acc.unresolved):
        what = [f"unknown op {k} x{v}" for k, v in acc.unknown.items()] + acc.unresolved[:5]
        raise UnsupportedOpError(f"{g.path.name}: cannot count exactly ({'; '.join(what)}); "
                                 "bind shapes with --shape/--dim or drop --strict to get a lower bound")
    params, by_dtype, weight_bytes = _params(g.model, weights)
    act_total, act_peak = _activation_memory(g, weights)
    io = [vi.name for vi in g.model.graph.input if vi.name not in weights] + [o.name for o in g.model.graph.output]
    io_bytes = sum(tensor_bytes(g.shapes.get(n), g.dtypes.get(n, 1)) for n in io)
    flops_total = 2 * acc.macs + acc.bias + acc.other
    moved = weight_bytes + act_total + io_bytes
    return FlopReport(
        model=g.path.name, macs=acc.macs, flops=2 * acc.macs, bias_flops=acc.bias, other_flops=acc.other,
        flops_total=flops_total, params=params, params_by_dtype=by_dtype, weight_bytes=weight_bytes,
        activation_bytes=act_total, peak_activation_bytes=act_peak, io_bytes=io_bytes,
        arithmetic_intensity=(flops_total / moved) if moved else None,
        by_op_type={k: OpTypeCost(*v) for k, v in sorted(acc.by_op.items(), key=lambda kv: -kv[1][3])},
        unknown_ops=dict(acc.unknown), unresolved_nodes=tuple(acc.unresolved),
        lower_bound=bool(acc.unknown or acc.unresolved), free_nodes=acc.free, constant_folded_nodes=acc.folded,
        bound_dims=dict(g.bound_dims), nodes=tuple(acc.nodes), assumed_dims=dict(g.assumed_dims or {}))


def flops_total(path: str | Path, dims: dict[str, int], weight_inputs: Iterable[str] = ()) -> int:
    """FLOPs total alone at one binding (a policy step's further decode lengths): the same walk without the
    byte counts, memory and parameter passes a full report needs."""
    g = load_graph(path, dims)
    acc = _Acc()
    _Walker(g, g.requested_dims or {}, False, count_bytes=False).walk(g.model.graph, acc, 1, set(weight_inputs), g.nodes)
    return 2 * acc.macs + acc.bias + acc.other


def analyze_model(path: str | Path, *, dims: Optional[dict[str, int]] = None,
                  shapes: Optional[dict[str, tuple[int, ...]]] = None, strict: bool = False, **kw) -> FlopReport:
    return analyze_graph(load_graph(path, dims, shapes, strict=strict), strict=strict, **kw)
