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

            results = ReferenceEvaluator(sub_model).run(outputs, {})
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
