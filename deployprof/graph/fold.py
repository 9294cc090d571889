"""Fold shape arithmetic once input shapes are bound. Exporters (the TorchScript one especially) compute
sizes at run time through Shape -> Gather -> Concat -> OneHot/Tile chains that ONNX shape inference cannot
see through; evaluating that small integer subgraph once makes the downstream shapes static."""
from __future__ import annotations

import logging
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)

MAX_ELEMS = 1 << 16
SHAPE_OPS = set(
    "Gather Concat Unsqueeze Squeeze Slice Cast CastLike Add Sub Mul Div Mod Neg Abs Equal Less Greater LessOrEqual "
    "GreaterOrEqual Not And Or Where Range OneHot Reshape ConstantOfShape Expand Tile ReduceProd ReduceSum "
    "ReduceMax ReduceMin Identity Min Max Floor Ceil Sqrt CumSum Transpose Flatten Size NonZero".split())


def _count(dims) -> int:
    return math.prod(int(d) for d in np.asarray(dims).reshape(-1))


def _broadcast_count(a, b) -> int:
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    return math.prod(max(int(p), int(q)) for p, q in zip(a, b))


# Ops that create a tensor whose size comes from their input *values*: each is checked before it allocates, so a
# hostile shape constant ([10^12]) cannot make the evaluator reserve terabytes (it raises, and folding is skipped).
_CREATED_SIZE = {
    "ConstantOfShape": lambda data, *rest, **kw: _count(data),
    "Expand": lambda x, shape, **kw: _broadcast_count(np.shape(x), [int(d) for d in np.asarray(shape).reshape(-1)]),
    "Tile": lambda x, repeats, **kw: np.size(x) * _count(repeats),
    "Range": lambda start, limit, delta, **kw: max(0, math.ceil((float(limit) - float(start)) / float(delta))) if float(delta) else 0,
    "OneHot": lambda indices, depth, values, **kw: np.size(indices) * abs(int(np.asarray(depth).reshape(-1)[0])),
}


def _guarded_ops() -> list:
    """Reference implementations of _CREATED_SIZE's ops that refuse outputs above MAX_ELEMS before allocating."""
    from onnx.reference.ops import load_op

    guarded = []
    for op, size in _CREATED_SIZE.items():
        base = load_op("", op, onnx.defs.onnx_opset_version())

        def _run(self, *args, _base=base, _size=size, _op=op, **kw):
            n = _size(*args, **kw)
            if n > MAX_ELEMS:
                raise ValueError(f"{_op} would create {n} elements (> {MAX_ELEMS}): not a shape computation")
            return _base._run(self, *args, **kw)

        guarded.append(type(op, (base,), {"op_domain": "", "_run": _run}))
    return guarded


def _small(t: TensorProto) -> bool:
    return t.data_location != TensorProto.EXTERNAL and math.prod(t.dims) <= MAX_ELEMS


def fold_shape_arithmetic(model: onnx.ModelProto, shapes: dict) -> tuple[onnx.ModelProto, int]:
    graph = model.graph
    known: set[str] = {t.name for t in graph.initializer if _small(t)}
    inits = {t.name: t for t in graph.initializer}
    replaced: dict[int, onnx.NodeProto] = {}
    sub_nodes: list[onnx.NodeProto] = []
    for idx, node in enumerate(graph.node):
        if node.op_type == "Constant":
            known.update(node.output)
            sub_nodes.append(node)
        elif node.op_type == "Shape" and shapes.get(node.input[0]) is not None:
            dims = np.array(shapes[node.input[0]], dtype=np.int64)
            attrs = {a.name: a.i for a in node.attribute}
            value = dims[attrs.get("start", 0):attrs.get("end", len(dims))] if ("start" in attrs or "end" in attrs) else dims
            const = helper.make_node("Constant", [], list(node.output), value=numpy_helper.from_array(value, node.output[0]))
            replaced[idx] = const
            sub_nodes.append(const)
            known.update(node.output)
        elif node.op_type in SHAPE_OPS and node.input and all((not i) or i in known for i in node.input) \
                and not any(a.type == onnx.AttributeProto.GRAPH for a in node.attribute):
            sub_nodes.append(node)
            known.update(o for o in node.output if o)
    candidates = [n for n in sub_nodes if n.op_type != "Constant"]
    if not candidates and not replaced:
        return model, 0
    values: dict[str, np.ndarray] = {}
    if candidates:
        used = {i for n in sub_nodes for i in n.input if i in inits}
        outputs = [o for n in candidates for o in n.output if o]
        sub = helper.make_graph(sub_nodes, "shape_subgraph", [],
                                [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
                                [inits[u] for u in used])
        sub_model = helper.make_model(sub, opset_imports=model.opset_import, ir_version=model.ir_version)
        try:
            from onnx.reference import ReferenceEvaluator

            results = ReferenceEvaluator(sub_model, new_ops=_guarded_ops()).run(outputs, {})
            values = {o: np.asarray(v) for o, v in zip(outputs, results)}
        except Exception as exc:  # folding is an aid to inference, never a requirement
            log.debug("shape folding skipped: %s", exc)
    for idx, node in enumerate(graph.node):
        if idx in replaced or node.op_type not in SHAPE_OPS:
            continue
        outs = [o for o in node.output if o]
        if outs and all(o in values and values[o].size <= MAX_ELEMS for o in outs) and len(outs) == 1:
            replaced[idx] = helper.make_node("Constant", [], outs, value=numpy_helper.from_array(values[outs[0]], outs[0]))
    if not replaced:
        return model, 0
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(replaced.get(i, n) for i, n in enumerate(graph.node))
    return new, len(replaced)
