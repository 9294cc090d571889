"""What a graph asks of TensorRT's ONNX parser, read from the graph alone: the TensorRT data types its tensors
need and any op outside the ONNX domain (ONNX Runtime's MatMulNBits, say, which TensorRT does not parse). The
check a CPU can make of a precision's graph against a TensorRT generation's bindings (tests/engine)."""
from __future__ import annotations

from pathlib import Path

# ONNX element type name -> TensorRT DataType member, for the types a precision decides
TRT_TYPES = {"FLOAT": "FLOAT", "FLOAT16": "HALF", "BFLOAT16": "BF16", "FLOAT8E4M3FN": "FP8", "INT8": "INT8",
             "INT4": "INT4", "FLOAT4E2M1": "FP4"}


def tensorrt_needs(path: Path) -> tuple[set[str], set[str]]:
    """(TensorRT DataType names the graph's tensors need, ops outside the default ONNX domain)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    g = model.graph
    codes = {t.data_type for t in g.initializer}
    codes |= {v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    codes |= {a.i for n in g.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"}
    names = {onnx.TensorProto.DataType.Name(c) for c in codes if c}
    foreign = {f"{n.domain}.{n.op_type}" for n in g.node if n.domain not in ("", "ai.onnx")}
    return {TRT_TYPES[n] for n in names if n in TRT_TYPES}, foreign
