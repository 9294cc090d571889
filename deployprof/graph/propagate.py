"""Shapes and element types of every tensor, by one pass of our own rules over the nodes: the fast path of
load_graph. ONNX's inference is exact but slow on 7B-sized graphs (run per binding, several times with folding,
then ONNX Runtime's symbolic pass); these rules cover the ops our exports and common policies use, track the
values of small tensors (shape arithmetic), and raise NotPropagated for anything else, where load_graph falls back
to the full path. They never guess: an op without a rule, a value they would need but do not have, or a subgraph
is a fallback, not an approximation."""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from .nodes import views

MAX_VALUE = 1 << 16     # elements of a tensor whose value is tracked (as fold.py's MAX_ELEMS)
INT64, BOOL, FLOAT = TensorProto.INT64, TensorProto.BOOL, TensorProto.FLOAT
_INTS = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8, TensorProto.UINT8,
         TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL}

Shape = tuple[int, ...]


class NotPropagated(Exception):
    """The fast path cannot give this graph's shapes exactly; the caller falls back."""


class _State:
    def __init__(self) -> None:
        self.shape: dict[str, Shape] = {}
        self.dtype: dict[str, int] = {}
        self.value: dict[str, np.ndarray] = {}
        self.seq: dict[str, list[Shape]] = {}

    def s(self, name: str) -> Shape:
        try:
            return self.shape[name]
        except KeyError:
            raise NotPropagated(f"shape of {name!r} unknown") from None

    def v(self, name: str) -> np.ndarray:
        val = self.value.get(name)
        if val is None:
            raise NotPropagated(f"value of {name!r} needed")
        return val

    def ints(self, name: str) -> list[int]:
        return [int(x) for x in self.v(name).reshape(-1)]


def _as_value(t: onnx.TensorProto) -> Optional[np.ndarray]:
    if t.data_location == TensorProto.EXTERNAL or math.prod(t.dims) > MAX_VALUE:
        return None
    try:
        arr = numpy_helper.to_array(t)
        return arr.astype(object) if t.data_type in _INTS else arr.astype(np.float64)
    except Exception:  # strings, or a tensor whose data does not match its dims
        return None


def _broadcast(*shapes: Shape) -> Shape:
    if all(s == shapes[0] for s in shapes):  # the common case, cheaply
        return shapes[0]
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise NotPropagated(f"shapes {shapes} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _small(shape: Shape) -> bool:
    return math.prod(shape) <= MAX_VALUE


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise NotPropagated(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


# -- rules: each returns [(shape, dtype, value or None)] for the node's outputs -------------------------------
Out = list[tuple[Shape, int, Optional[np.ndarray]]]
RULES: dict[str, Callable[[_State, onnx.NodeProto, dict], Out]] = {}


def rule(*ops: str):
    def deco(fn):
        for op in ops:
            RULES[op] = fn
        return fn
    return deco


def _tdiv(a, b):
    """ONNX integer Div truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_BINARY = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
           "Max": np.maximum, "Min": np.minimum}
_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
            "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}


@rule("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "PRelu", "BitShift")
def _arith(st: _State, node, a) -> Out:
    ins = [i for i in node.input if i]
    shape = _broadcast(*(st.s(i) for i in ins))
    dtype = st.dtype.get(ins[0], FLOAT)
    value = None
    if _small(shape) and all(st.value.get(i) is not None for i in ins) and (node.op_type in _BINARY or node.op_type == "Div"):
        vals = [st.value[i] for i in ins]
        if node.op_type == "Div":
            value = np.vectorize(_tdiv, otypes=[object])(*vals) if dtype in _INTS else vals[0] / vals[1]
        else:
            value = functools.reduce(_BINARY[node.op_type], vals)
        value = np.broadcast_to(np.asarray(value, dtype=object if dtype in _INTS else np.float64), shape).copy()
    return [(shape, dtype, value)]


@rule(*_COMPARE, "Not")
def _compare(st: _State, node, a) -> Out:
    ins = [i for i in node.input if i]
    shape = _broadcast(*(st.s(i) for i in ins))
    value = None
    if _small(shape) and all(st.value.get(i) is not None for i in ins):
        fn = np.logical_not if node.op_type == "Not" else _COMPARE[node.op_type]
        value = np.broadcast_to(fn(*(st.value[i] for i in ins)), shape).astype(object)
    return [(shape, BOOL, value)]


@rule("Where")
def _where(st: _State, node, a) -> Out:
    c, x, y = node.input
    shape = _broadcast(st.s(c), st.s(x), st.s(y))
    value = None
    if _small(shape) and all(st.value.get(i) is not None for i in (c, x, y)):
        value = np.broadcast_to(np.where(st.value[c].astype(bool), st.value[x], st.value[y]), shape).copy()
    return [(shape, st.dtype.get(x, FLOAT), value)]


_SAME = ("Identity", "Sqrt", "Reciprocal", "Exp", "Log", "Cos", "Sin", "Tanh", "Sigmoid", "Erf", "Relu", "LeakyRelu",
         "Gelu", "Softmax", "LogSoftmax", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign", "HardSigmoid", "HardSwish",
         "Softplus", "Elu", "Selu", "Celu", "Mish", "Trilu", "CumSum", "Clip", "IsNaN", "IsInf", "ScatterND",
         "ScatterElements", "BatchNormalization", "InstanceNormalization", "GroupNormalization", "Dropout",
         "LpNormalization", "Hardmax", "Shrink", "ThresholdedRelu")
_VALUE_FNS = {"Identity": lambda x: x, "Neg": lambda x: -x, "Abs": abs, "Floor": np.floor, "Ceil": np.ceil,
              "Sqrt": np.sqrt, "Relu": lambda x: np.maximum(x, 0)}


@rule(*_SAME)
def _same(st: _State, node, a) -> Out:
    x = node.input[0]
    shape, dtype = st.s(x), st.dtype.get(x, FLOAT)
    if node.op_type in ("IsNaN", "IsInf"):
        dtype = BOOL
    value = None
    if node.op_type in _VALUE_FNS and st.value.get(x) is not None:
        value = np.asarray(_VALUE_FNS[node.op_type](st.value[x]))
        value = value.astype(object) if dtype in _INTS else value.astype(np.float64)
    out = [(shape, dtype, value)]
    if node.op_type == "Dropout" and len(node.output) > 1:
        out.append((shape, BOOL, None))
    elif node.op_type == "BatchNormalization" and len(node.output) > 1:
        raise NotPropagated("BatchNormalization in training mode")
    return out


def _cast_value(val: Optional[np.ndarray], to: int) -> Optional[np.ndarray]:
    if val is None:
        return None
    if to in _INTS:
        return np.array([int(np.trunc(float(x))) if not isinstance(x, (int, np.integer)) else int(x)
                         for x in val.reshape(-1)], dtype=object).reshape(val.shape)
    return val.astype(np.float64)


@rule("Cast")
def _cast(st: _State, node, a) -> Out:
    x = node.input[0]
    return [(st.s(x), a["to"], _cast_value(st.value.get(x), a["to"]))]


@rule("CastLike")
def _cast_like(st: _State, node, a) -> Out:
    x, like = node.input[0], node.input[1]
    to = st.dtype.get(like)
    if to is None:
        raise NotPropagated(f"type of {like!r} unknown")
    return [(st.s(x), to, _cast_value(st.value.get(x), to))]


@rule("LayerNormalization")
def _layer_norm(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    axis = _axis(a.get("axis", -1), len(shape))
    reduced = tuple(d if i < axis else 1 for i, d in enumerate(shape))
    stash = a.get("stash_type", FLOAT)
    return [(shape, st.dtype.get(x, FLOAT), None)] + [(reduced, stash, None)] * (len(node.output) - 1)


@rule("MatMul", "MatMulInteger")
def _matmul(st: _State, node, a) -> Out:
    sa, sb = st.s(node.input[0]), st.s(node.input[1])
    if not sa or not sb:
        raise NotPropagated("MatMul of a scalar")
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        raise NotPropagated(f"MatMul {sa} x {sb}")
    out = _broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    dtype = TensorProto.INT32 if node.op_type == "MatMulInteger" else st.dtype.get(node.input[0], FLOAT)
    return [(out, dtype, None)]


@rule("Gemm")
def _gemm(st: _State, node, a) -> Out:
    sa, sb = st.s(node.input[0]), st.s(node.input[1])
    if len(sa) != 2 or len(sb) != 2:
        raise NotPropagated("Gemm of non-matrices")
    m = sa[1] if a.get("transA", 0) else sa[0]
    n = sb[0] if a.get("transB", 0) else sb[1]
    return [((m, n), st.dtype.get(node.input[0], FLOAT), None)]


@rule("Transpose")
def _transpose(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    perm = a.get("perm") or list(range(len(shape)))[::-1]
    value = st.value.get(x)
    return [(tuple(shape[p] for p in perm), st.dtype.get(x, FLOAT),
             None if value is None else np.transpose(value, perm))]


@rule("Reshape")
def _reshape(st: _State, node, a) -> Out:
    x = node.input[0]
    shape, target = st.s(x), st.ints(node.input[1])
    out, unknown = [], None
    for i, d in enumerate(target):
        if d == 0 and not a.get("allowzero", 0):
            if i >= len(shape):
                raise NotPropagated("Reshape copies a dimension the input does not have")
            out.append(shape[i])
        elif d == -1:
            if unknown is not None:
                raise NotPropagated("Reshape with two -1")
            unknown = i
            out.append(1)
        elif d < 0:
            raise NotPropagated(f"Reshape to {target}")
        else:
            out.append(d)
    total, known = math.prod(shape), math.prod(out)
    if unknown is not None:
        if known == 0 or total % known:
            raise NotPropagated(f"Reshape {shape} to {target}")
        out[unknown] = total // known
    elif known != total:
        raise NotPropagated(f"Reshape {shape} to {target}")
    value = st.value.get(x)
    return [(tuple(out), st.dtype.get(x, FLOAT), None if value is None else value.reshape(out))]


@rule("Flatten")
def _flatten(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    axis = _axis(a.get("axis", 1), len(shape) + 1) if shape else 0
    return [((math.prod(shape[:axis]), math.prod(shape[axis:])), st.dtype.get(x, FLOAT), None)]


def _axes(st: _State, node, a) -> Optional[list[int]]:
    if len(node.input) > 1 and node.input[1]:
        return st.ints(node.input[1])
    return list(a["axes"]) if "axes" in a else None


@rule("Unsqueeze")
def _unsqueeze(st: _State, node, a) -> Out:
    x = node.input[0]
    shape, axes = st.s(x), _axes(st, node, a)
    if axes is None:
        raise NotPropagated("Unsqueeze without axes")
    rank = len(shape) + len(axes)
    axes = sorted(_axis(ax, rank) for ax in axes)
    out = list(shape)
    for ax in axes:
        out.insert(ax, 1)
    value = st.value.get(x)
    return [(tuple(out), st.dtype.get(x, FLOAT), None if value is None else value.reshape(out))]


@rule("Squeeze")
def _squeeze(st: _State, node, a) -> Out:
    x = node.input[0]
    shape, axes = st.s(x), _axes(st, node, a)
    drop = {_axis(ax, len(shape)) for ax in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
    if any(shape[i] != 1 for i in drop):
        raise NotPropagated(f"Squeeze of a dimension that is not 1 in {shape}")
    out = tuple(d for i, d in enumerate(shape) if i not in drop)
    value = st.value.get(x)
    return [(out, st.dtype.get(x, FLOAT), None if value is None else value.reshape(out))]


@rule("Concat")
def _concat(st: _State, node, a) -> Out:
    ins = [i for i in node.input if i]
    shapes = [st.s(i) for i in ins]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise NotPropagated("Concat of different ranks")
    axis = _axis(a["axis"], rank)
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    value = None
    if all(st.value.get(i) is not None for i in ins):
        value = np.concatenate([st.value[i] for i in ins], axis=axis)
    return [(tuple(out), st.dtype.get(ins[0], FLOAT), value)]


@rule("Shape")
def _shape(st: _State, node, a) -> Out:
    shape = st.s(node.input[0])
    rank = len(shape)
    start, end = a.get("start", 0), a.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    dims = list(shape[start:end])
    return [((len(dims),), INT64, np.array(dims, dtype=object))]


@rule("Size")
def _size(st: _State, node, a) -> Out:
    return [((), INT64, np.array(math.prod(st.s(node.input[0])), dtype=object))]


@rule("Gather")
def _gather(st: _State, node, a) -> Out:
    data, idx = node.input
    shape, ishape = st.s(data), st.s(idx)
    axis = _axis(a.get("axis", 0), len(shape))
    out = shape[:axis] + ishape + shape[axis + 1:]
    value = None
    if st.value.get(data) is not None and st.value.get(idx) is not None and _small(out):
        i = np.array([int(x) + (shape[axis] if int(x) < 0 else 0) for x in st.value[idx].reshape(-1)], dtype=np.int64)
        value = np.take(st.value[data], i.reshape(ishape), axis=axis)
    return [(out, st.dtype.get(data, FLOAT), value)]


@rule("GatherElements")
def _gather_elements(st: _State, node, a) -> Out:
    return [(st.s(node.input[1]), st.dtype.get(node.input[0], FLOAT), None)]


def _slice_len(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice's clamping (it differs from Python's for negative steps)."""
    if step == 0:
        raise NotPropagated("Slice with step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, end, max(0, -(-(end - start) // step))


@rule("Slice")
def _slice(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    if len(node.input) > 1:
        starts, ends = st.ints(node.input[1]), st.ints(node.input[2])
        axes = st.ints(node.input[3]) if len(node.input) > 3 and node.input[3] else list(range(len(starts)))
        steps = st.ints(node.input[4]) if len(node.input) > 4 and node.input[4] else [1] * len(starts)
    else:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes, steps = list(a.get("axes", range(len(starts)))), [1] * len(starts)
    out = list(shape)
    picks = []
    for s, e, ax, step in zip(starts, ends, axes, steps):
        ax = _axis(ax, len(shape))
        start, end, n = _slice_len(shape[ax], s, e, step)
        out[ax] = n
        picks.append((ax, start, end, step))
    value = st.value.get(x)
    if value is not None:
        for ax, start, end, step in picks:
            value = np.take(value, list(range(start, end, step)), axis=ax)
    return [(tuple(out), st.dtype.get(x, FLOAT), value)]


@rule("Range")
def _range(st: _State, node, a) -> Out:
    start, limit, delta = (st.v(i).reshape(-1)[0] for i in node.input)
    n = max(math.ceil((limit - start) / delta), 0) if not all(isinstance(v, int) for v in (start, limit, delta)) \
        else max(-(-(limit - start) // delta), 0)
    dtype = st.dtype.get(node.input[0], FLOAT)
    value = None
    if n <= MAX_VALUE:
        value = np.array([start + i * delta for i in range(n)], dtype=object if dtype in _INTS else np.float64)
    return [((int(n),), dtype, value)]


@rule("ConstantOfShape")
def _constant_of_shape(st: _State, node, a) -> Out:
    shape = tuple(st.ints(node.input[0]))
    t = a.get("value")
    dtype = t.data_type if t is not None else FLOAT
    value = None
    if _small(shape):
        fill = numpy_helper.to_array(t).reshape(-1)[0] if t is not None else 0.0
        value = np.full(shape, int(fill) if dtype in _INTS else float(fill), dtype=object if dtype in _INTS else np.float64)
    return [(shape, dtype, value)]


@rule("Expand")
def _expand(st: _State, node, a) -> Out:
    x = node.input[0]
    out = _broadcast(st.s(x), tuple(st.ints(node.input[1])))
    value = st.value.get(x)
    return [(out, st.dtype.get(x, FLOAT), None if value is None or not _small(out) else np.broadcast_to(value, out).copy())]


@rule("Tile")
def _tile(st: _State, node, a) -> Out:
    x = node.input[0]
    reps = st.ints(node.input[1])
    return [(tuple(d * r for d, r in zip(st.s(x), reps)), st.dtype.get(x, FLOAT), None)]


@rule("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1", "ReduceSumSquare",
      "ReduceLogSumExp", "ArgMax", "ArgMin")
def _reduce(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    if node.op_type in ("ArgMax", "ArgMin"):
        axes, dtype = [a.get("axis", 0)], INT64
    else:
        axes, dtype = _axes(st, node, a), st.dtype.get(x, FLOAT)
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [(shape, dtype, None)]
            axes = list(range(len(shape)))
    drop = {_axis(ax, len(shape)) for ax in axes}
    keep = a.get("keepdims", 1)
    out = tuple(1 if i in drop else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in drop)
    return [(out, dtype, None)]


def _pool_out(size: int, k: int, stride: int, dilation: int, pad: int, auto: str, ceil: int) -> int:
    eff = (k - 1) * dilation + 1
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return -(-size // stride)
    if auto == "VALID":
        return -(-(size - eff + 1) // stride)
    num = size + pad - eff
    return (-(-num // stride) if ceil else num // stride) + 1


@rule("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")
def _conv(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    spatial = len(shape) - 2
    if node.op_type in ("Conv", "ConvTranspose"):
        w = st.s(node.input[1])
        kernel = list(a.get("kernel_shape", w[2:]))
    else:
        kernel = list(a["kernel_shape"])
    if node.op_type == "ConvTranspose":
        raise NotPropagated("ConvTranspose")
    strides = list(a.get("strides", [1] * spatial))
    dil = list(a.get("dilations", [1] * spatial))
    pads = list(a.get("pads", [0] * 2 * spatial))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    ceil = a.get("ceil_mode", 0)
    dims = tuple(_pool_out(shape[2 + i], kernel[i], strides[i], dil[i], pads[i] + pads[i + spatial], auto, ceil)
                 for i in range(spatial))
    channels = w[0] if node.op_type == "Conv" else shape[1]
    out = [((shape[0], channels) + dims, st.dtype.get(x, FLOAT), None)]
    if node.op_type == "MaxPool" and len(node.output) > 1:
        out.append(((shape[0], channels) + dims, INT64, None))
    return out


@rule("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(st: _State, node, a) -> Out:
    shape = st.s(node.input[0])
    return [(shape[:2] + (1,) * (len(shape) - 2), st.dtype.get(node.input[0], FLOAT), None)]


@rule("Pad")
def _pad(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    pads = st.ints(node.input[1]) if len(node.input) > 1 and node.input[1] else list(a["pads"])
    if len(node.input) > 3 and node.input[3]:
        axes = [_axis(ax, len(shape)) for ax in st.ints(node.input[3])]
    else:
        axes = list(range(len(shape)))
    out = list(shape)
    for i, ax in enumerate(axes):
        out[ax] += pads[i] + pads[i + len(axes)]
    return [(tuple(out), st.dtype.get(x, FLOAT), None)]


@rule("Split")
def _split(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = st.s(x)
    axis = _axis(a.get("axis", 0), len(shape))
    n = len([o for o in node.output])
    if len(node.input) > 1 and node.input[1]:
        sizes = st.ints(node.input[1])
    elif "split" in a:
        sizes = list(a["split"])
    else:
        parts = a.get("num_outputs", n)
        chunk = -(-shape[axis] // parts)
        sizes = [chunk] * (parts - 1) + [shape[axis] - chunk * (parts - 1)]
    if sum(sizes) != shape[axis] or len(sizes) != n:
        raise NotPropagated(f"Split of {shape[axis]} into {sizes}")
    return [(shape[:axis] + (s,) + shape[axis + 1:], st.dtype.get(x, FLOAT), None) for s in sizes]


@rule("TopK")
def _topk(st: _State, node, a) -> Out:
    x = node.input[0]
    shape = list(st.s(x))
    shape[_axis(a.get("axis", -1), len(shape))] = st.ints(node.input[1])[0]
    return [(tuple(shape), st.dtype.get(x, FLOAT), None), (tuple(shape), INT64, None)]


def _propagate_sequence(st: _State, node, a) -> bool:
    """SplitToSequence / SequenceAt: sequences are lists of shapes (their elements' type is the input's)."""
    if node.op_type == "SplitToSequence":
        x = node.input[0]
        shape = st.s(x)
        axis = _axis(a.get("axis", 0), len(shape))
        dim = shape[axis]
        if len(node.input) > 1 and node.input[1]:
            split = st.v(node.input[1])
            if split.ndim == 0:
                chunk = int(split)
                sizes = [chunk] * (dim // chunk) + ([dim % chunk] if dim % chunk else [])
            else:
                sizes = [int(s) for s in split.reshape(-1)]
            elems = [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]
        elif a.get("keepdims", 1):
            elems = [shape[:axis] + (1,) + shape[axis + 1:]] * dim
        else:
            elems = [shape[:axis] + shape[axis + 1:]] * dim
        st.seq[node.output[0]] = elems
        st.dtype[node.output[0]] = st.dtype.get(x, FLOAT)
        return True
    if node.op_type == "SequenceAt":
        elems = st.seq.get(node.input[0])
        if elems is None:
            raise NotPropagated(f"sequence {node.input[0]!r} unknown")
        pos = st.ints(node.input[1])[0]
        if not -len(elems) <= pos < len(elems):
            raise NotPropagated("SequenceAt out of range")
        st.shape[node.output[0]] = elems[pos]
        st.dtype[node.output[0]] = st.dtype[node.input[0]]
        return True
    if node.op_type == "SequenceLength":
        elems = st.seq.get(node.input[0])
        if elems is None:
            raise NotPropagated(f"sequence {node.input[0]!r} unknown")
        st.shape[node.output[0]], st.dtype[node.output[0]] = (), INT64
        st.value[node.output[0]] = np.array(len(elems), dtype=object)
        return True
    return False


def propagate(graph: onnx.GraphProto, inputs: dict[str, tuple[Shape, int]], nodes: Optional[list] = None
              ) -> tuple[dict[str, Shape], dict[str, int]]:
    """Shapes and element types of every value of `graph`, given its (bound) input shapes and types. Nothing is
    folded: the counter sees the graph's own nodes, whatever inference resolved it."""
    st = _State()
    for name, (shape, dtype) in inputs.items():
        st.shape[name], st.dtype[name] = shape, dtype
    for t in graph.initializer:
        st.shape[t.name], st.dtype[t.name] = tuple(int(d) for d in t.dims), t.data_type
        if t.data_type in _INTS or math.prod(t.dims) <= 64:  # shape constants, and scalars they are mixed with
            val = _as_value(t)
            if val is not None:
                st.value[t.name] = val
    for node in nodes if nodes is not None else views(graph):
        a = node.attrs
        if node.domain not in ("", "ai.onnx"):
            raise NotPropagated(f"op {node.domain}.{node.op_type}")
        if node.subgraphs:
            raise NotPropagated(f"{node.op_type} has a subgraph")
        if node.op_type == "Constant":
            out = node.output[0]
            t = a.get("value")
            if isinstance(t, onnx.TensorProto):
                st.shape[out], st.dtype[out] = tuple(int(d) for d in t.dims), t.data_type
                val = _as_value(t)
                if val is not None:
                    st.value[out] = val
            elif "value_int" in a or "value_ints" in a:
                val = np.array(a.get("value_int", a.get("value_ints")), dtype=object)
                st.shape[out], st.dtype[out], st.value[out] = val.shape, INT64, val
            elif "value_float" in a or "value_floats" in a:
                val = np.array(a.get("value_float", a.get("value_floats")), dtype=np.float64)
                st.shape[out], st.dtype[out], st.value[out] = val.shape, FLOAT, val
            else:
                raise NotPropagated("Constant of a sparse or string value")
            continue
        if _propagate_sequence(st, node, a):
            continue
        fn = RULES.get(node.op_type)
        if fn is None:
            raise NotPropagated(f"no rule for {node.op_type}")
        try:
            outs = fn(st, node, a)
        except NotPropagated:
            raise
        except Exception as exc:  # a malformed node: the full path reports it as ONNX sees it
            raise NotPropagated(f"{node.op_type} {node.name!r}: {type(exc).__name__}: {exc}") from None
        for name, (shape, dtype, value) in zip(node.output, outs):
            if not name:
                continue
            if any((not isinstance(d, (int, np.integer))) or d < 0 for d in shape):
                raise NotPropagated(f"{node.op_type} gave {shape}")
            st.shape[name], st.dtype[name] = tuple(int(d) for d in shape), dtype
            if value is not None:
                value = np.asarray(value, dtype=object if dtype in _INTS else np.float64)
                if value.size <= MAX_VALUE:
                    st.value[name] = value.reshape(st.shape[name])
    for o in graph.output:
        if o.name not in st.shape:
            raise NotPropagated(f"output {o.name!r} not reached")
    return st.shape, st.dtype
