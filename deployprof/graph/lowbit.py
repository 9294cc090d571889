"""The graphs of the 2026 precisions, written here where no maintained library in this environment makes one that
both TensorRT and ONNX Runtime's CPU provider take (docs/PRECISIONS.md says what was tried and why):

fp8:  E4M3 Q/DQ in the form TensorRT 10/11 builds on Hopper, Ada, Blackwell and Thor: per-tensor activation scales
      (amax over the calibration inputs / 448) and per-output-channel weight scales at the inputs of every MatMul,
      Gemm and Conv of an activation by a weight (attention's activation x activation MatMuls stay as they are);
      weights stored as FP8. Opset 21. ONNX Runtime's CPU provider runs it (as FP32 kernels).
int4: weight-only, symmetric, INT4_BLOCK weights per scale along K, as a blocked int4 DequantizeLinear before each
      MatMul (TensorRT 10/11's weight-only INT4; ONNX Runtime fuses it into MatMulNBits). Scales by round-to-nearest
      (`rtn`: ONNX Runtime's convention, the block's largest-magnitude weight at -8) or with an activation-aware clip
      (`awq-clip`, as Model Optimizer's awq_clip: per output column, the clip ratio of the block maxima that least
      changes X @ W on the calibration activations X).
bf16: the FP16 converter's typing (block list, FP32 I/O) with every FLOAT16 made BFLOAT16 and each weight rounded
      from its FP32 value (BF16 has FP32's range: nothing clamps). The deployable graph; ONNX Runtime's CPU provider
      has no BF16 MatMul, so it runs `emulate_bf16` of it: FP32 kernels, every BF16 tensor rounded to BF16."""
from __future__ import annotations

from typing import Optional

import numpy as np

FP8_MAX = 448.0             # largest finite E4M3FN value
FP8_OPS = ("MatMul", "Gemm", "Conv")
FP8_OPSET = 21              # FP8 Q/DQ needs 19; per-axis float8 DequantizeLinear and int4 blocks, 21


def at_opset(model, opset: int = FP8_OPSET):
    """The model at `opset` or later in the default domain (the version converter, when it is older)."""
    import onnx

    have = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return model if have >= opset else onnx.version_converter.convert_version(model, opset)


def _weight_axis(node, rank: int) -> Optional[int]:
    """The output-channel axis of a weight: Conv's 0, MatMul's last (B is [K, N]), Gemm's by transB."""
    if node.op_type == "Conv":
        return 0
    if rank != 2:
        return None              # a batched MatMul operand: one scale
    if node.op_type == "Gemm":
        return 0 if any(a.name == "transB" and a.i for a in node.attribute) else 1
    return 1


def _probed(model, feeds: list[dict], names: list[str]):
    """Each feed's values of the named tensors ({name: array}): the graph run with them as extra outputs."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names if n not in have)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    for feed in feeds:
        yield dict(zip(names, sess.run(names, feed)))


def activation_amax(model, feeds: list[dict], names: list[str]) -> dict[str, float]:
    """max |x| of each named tensor over the calibration inputs."""
    amax = {n: 0.0 for n in names}
    for values in _probed(model, feeds, names):
        for n, v in values.items():
            if v.size:
                amax[n] = max(amax[n], float(np.nanmax(np.abs(v.astype(np.float32)))))
    return amax


def quantize_fp8(model, feeds: list[dict], keep_nodes: tuple[str, ...] = ()):
    """`model` with FP8 Q/DQ at the inputs of its MatMul/Gemm/Conv nodes that multiply an activation by a weight
    (those named in keep_nodes stay FP32), activations calibrated on `feeds`. An activation never seen non-zero keeps
    FP32 (a scale of 0 is no scale)."""
    import ml_dtypes
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = at_opset(model)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    typed = {v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.value_info, *graph.output)}
    keep = set(keep_nodes)
    # an activation times an FP32 weight; a MatMul of two activations (attention scores) stays as it is: FP8 on one
    # side only would not make it an FP8 GEMM
    targets = {i: n for i, n in enumerate(graph.node) if n.op_type in FP8_OPS and (n.name or n.output[0]) not in keep
               and len(n.input) > 1 and n.input[0] not in inits
               and typed.get(n.input[0], TensorProto.FLOAT) == TensorProto.FLOAT
               and n.input[1] in inits and inits[n.input[1]].data_type == TensorProto.FLOAT}
    amax = activation_amax(model, feeds, sorted({n.input[0] for n in targets.values()}))
    zero = numpy_helper.from_array(np.zeros((), dtype=ml_dtypes.float8_e4m3fn), "fp8_zero_point")
    added, new_nodes, done = [zero], [], {}

    def act_dq(name: str) -> str:
        if name not in done:
            if amax.get(name, 0.0) <= 0:
                done[name] = name       # never seen non-zero: left as it is
            else:
                s = numpy_helper.from_array(np.array(amax[name] / FP8_MAX, dtype=np.float32), f"{name}_fp8_scale")
                added.append(s)
                new_nodes.extend([helper.make_node("QuantizeLinear", [name, s.name, zero.name], [f"{name}_fp8"],
                                                   name=f"{name}_fp8_q"),
                                  helper.make_node("DequantizeLinear", [f"{name}_fp8", s.name, zero.name],
                                                   [f"{name}_fp8_dq"], name=f"{name}_fp8_dq")])
                done[name] = f"{name}_fp8_dq"
        return done[name]

    def weight_dq(name: str, node) -> str:
        key = ("w", name, node.op_type)
        if key not in done:
            w = numpy_helper.to_array(inits[name]).astype(np.float32)
            axis = _weight_axis(node, w.ndim)
            if axis is None:
                scale = np.array(max(float(np.abs(w).max()), 1e-30) / FP8_MAX, dtype=np.float32)
                q = np.clip(w / scale, -FP8_MAX, FP8_MAX)
            else:
                other = tuple(i for i in range(w.ndim) if i != axis)
                scale = (np.maximum(np.abs(w).max(axis=other), 1e-30) / FP8_MAX).astype(np.float32)
                shape = [1] * w.ndim
                shape[axis] = -1
                q = np.clip(w / scale.reshape(shape), -FP8_MAX, FP8_MAX)
            qw = numpy_helper.from_array(q.astype(ml_dtypes.float8_e4m3fn), f"{name}_fp8w")
            sw = numpy_helper.from_array(scale, f"{name}_fp8w_scale")
            added.extend([qw, sw])
            attrs = {"axis": axis} if axis is not None else {}
            zp = zero.name
            if axis is not None:   # a per-axis zero point has the scale's shape
                zpa = numpy_helper.from_array(np.zeros(scale.shape, dtype=ml_dtypes.float8_e4m3fn), f"{name}_fp8w_zp")
                added.append(zpa)
                zp = zpa.name
            new_nodes.append(helper.make_node("DequantizeLinear", [qw.name, sw.name, zp], [f"{name}_fp8w_dq"],
                                              name=f"{name}_fp8w_dq", **attrs))
            done[key] = f"{name}_fp8w_dq"
        return done[key]

    before = {}
    for i, node in targets.items():
        start = len(new_nodes)
        node.input[0], node.input[1] = act_dq(node.input[0]), weight_dq(node.input[1], node)
        before[i] = new_nodes[start:]
    _drop_unread(graph, {k[1] for k in done if isinstance(k, tuple)})
    graph.initializer.extend(added)
    _insert_before(graph, before)
    onnx.checker.check_model(model)
    return model


INT4_CLIPS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6)   # awq-clip's search grid
INT4_ROWS = 1024       # calibration rows per MatMul input the clip search uses (a seeded subsample beyond that)


def _int4_blocks(w: np.ndarray, clip: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(int4 values [K, N], scales [ceil(K / block), N]) of weights [K, N]: each block's largest-magnitude weight
    times `clip` (per column) maps to -8 (ONNX Runtime's symmetric convention), the rest rounded and clipped."""
    k, n = w.shape
    nb = -(-k // block)
    padded = np.zeros((nb * block, n), dtype=np.float32)
    padded[:k] = w
    blocks = padded.reshape(nb, block, n)
    idx = np.abs(blocks).argmax(axis=1)
    peak = np.take_along_axis(blocks, idx[:, None, :], axis=1)[:, 0, :]          # signed, [nb, N]
    scale = (peak * clip[None, :] / -8.0).astype(np.float32)
    scale[scale == 0] = 1.0                                                        # an all-zero block
    q = np.clip(np.rint(blocks / scale[:, None, :]), -8, 7).reshape(nb * block, n)[:k]
    return q, scale


def _dequantized(q: np.ndarray, scale: np.ndarray, block: int) -> np.ndarray:
    return q * np.repeat(scale, block, axis=0)[:q.shape[0]]


def int4_scales(w: np.ndarray, x: Optional[np.ndarray], block: int) -> tuple[np.ndarray, np.ndarray]:
    """RTN when `x` is None; else the awq-clip search: per output column, the grid's clip with the least
    ||x @ (w - dequantized)||^2 (1.0, plain RTN, is on the grid: the search never does worse on x)."""
    n = w.shape[1]
    if x is None:
        return _int4_blocks(w, np.ones(n, dtype=np.float32), block)
    best, best_err = np.ones(n, dtype=np.float32), np.full(n, np.inf)
    for c in INT4_CLIPS:
        q, scale = _int4_blocks(w, np.full(n, c, dtype=np.float32), block)
        err = ((x @ (w - _dequantized(q, scale, block))) ** 2).sum(axis=0)
        better = err < best_err
        best[better], best_err[better] = c, err[better]
    return _int4_blocks(w, best, block)


def activations(model, feeds: list[dict], names: list[str], rows: int = INT4_ROWS) -> dict[str, np.ndarray]:
    """Each named tensor over the calibration inputs as [rows, last dim] (a seeded subsample of `rows` at most)."""
    got: dict[str, list] = {n: [] for n in names}
    for values in _probed(model, feeds, names):
        for n, v in values.items():
            got[n].append(np.asarray(v, dtype=np.float32).reshape(-1, v.shape[-1]))
    rng = np.random.default_rng(0)
    out = {}
    for n, parts in got.items():
        x = np.concatenate(parts)
        out[n] = x[rng.choice(len(x), rows, replace=False)] if len(x) > rows else x
    return out


def quantize_int4(model, feeds: Optional[list[dict]], keep_nodes: tuple[str, ...] = (), block: int = 32):
    """`model` with each MatMul's 2-D FP32 weight (not in keep_nodes) as blocked int4 + DequantizeLinear; the clip
    searched on `feeds` (awq-clip), or round-to-nearest when feeds is None."""
    import ml_dtypes
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = at_opset(model)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    keep = set(keep_nodes)
    targets = {i: n for i, n in enumerate(graph.node) if n.op_type == "MatMul" and (n.name or n.output[0]) not in keep
               and n.input[1] in inits and inits[n.input[1]].data_type == TensorProto.FLOAT
               and len(inits[n.input[1]].dims) == 2}
    xs = activations(model, feeds, sorted({n.input[0] for n in targets.values() if n.input[0] not in inits})) \
        if feeds else {}
    added, new_nodes, done, before = [], [], {}, {}
    for i, node in targets.items():
        name = node.input[1]
        start = len(new_nodes)
        if name not in done:
            w = numpy_helper.to_array(inits[name]).astype(np.float32)
            x = xs.get(node.input[0])
            q, scale = int4_scales(w, x if x is not None and len(x) and x.shape[1] == w.shape[0] else None, block)
            added += [numpy_helper.from_array(q.astype(ml_dtypes.int4), f"{name}_int4"),
                      numpy_helper.from_array(scale, f"{name}_int4_scale")]
            new_nodes.append(helper.make_node("DequantizeLinear", [f"{name}_int4", f"{name}_int4_scale"],
                                              [f"{name}_int4_dq"], name=f"{name}_int4_dq", axis=0, block_size=block))
            done[name] = f"{name}_int4_dq"
        node.input[1] = done[name]
        before[i] = new_nodes[start:]
    _drop_unread(graph, set(done))
    graph.initializer.extend(added)
    _insert_before(graph, before)
    onnx.checker.check_model(model)
    return model


def _drop_unread(graph, replaced: set[str]) -> None:
    """Remove the FP32 weights that were replaced and that nothing reads any more (a subgraph or an output may)."""
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    used |= {i for n in graph.node for a in n.attribute if a.g.node for m in a.g.node for i in m.input}
    for t in list(graph.initializer):
        if t.name in replaced and t.name not in used:
            graph.initializer.remove(t)


def _insert_before(graph, before: dict[int, list]) -> None:
    """Each new Q/DQ node placed just before the node (by index) whose rewrite made it: after whatever produced its
    input, since that node read the same input, so the graph stays in order without sorting it."""
    nodes = []
    for i, n in enumerate(graph.node):
        nodes += before.get(i, [])
        nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)


def to_bf16(fp32_model, converted):
    """The FP16 converter's output (`converted`, from `fp32_model`) retyped to BF16: every FLOAT16 type, cast and
    initializer becomes BFLOAT16, each weight rounded from its FP32 original (not from the FP16 one, which clamped
    at 65504)."""
    import ml_dtypes
    from onnx import TensorProto, numpy_helper

    originals = {t.name: t for t in fp32_model.graph.initializer}
    graph = converted.graph
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT16:
            v.type.tensor_type.elem_type = TensorProto.BFLOAT16
    for node in graph.node:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT16:
                a.i = TensorProto.BFLOAT16
            if a.name == "value" and a.t.data_type == TensorProto.FLOAT16:   # Constant nodes
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float32).astype(
                    ml_dtypes.bfloat16), a.t.name))
    for i, t in enumerate(graph.initializer):
        if t.data_type == TensorProto.FLOAT16:
            src = originals.get(t.name)
            values = numpy_helper.to_array(src) if src is not None and src.data_type == TensorProto.FLOAT else \
                numpy_helper.to_array(t).astype(np.float32)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(values.astype(ml_dtypes.bfloat16), t.name))
    return converted


def emulate_bf16(model):
    """A BF16 graph as FP32 kernels with BF16 storage: every BF16 tensor FLOAT, each node output that was BF16
    rounded to BF16 (Cast to BFLOAT16 and back), weights widened exactly. BF16 Tensor Cores multiply BF16 inputs
    with FP32 accumulation and round their outputs: the same numbers, up to the order of the sums."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    bf16 = {v.name for v in (*graph.input, *graph.output, *graph.value_info)
            if v.type.tensor_type.elem_type == TensorProto.BFLOAT16}
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.type.tensor_type.elem_type == TensorProto.BFLOAT16:
            v.type.tensor_type.elem_type = TensorProto.FLOAT
    for i, t in enumerate(graph.initializer):
        if t.data_type == TensorProto.BFLOAT16:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
    nodes = []
    for node in graph.node:
        for a in node.attribute:
            if a.name == "value" and a.t.data_type == TensorProto.BFLOAT16:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float32), a.t.name))
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == TensorProto.BFLOAT16:
                    # the cast stays, rounding to BF16; a second one gives the FP32 the next kernel reads
                    out = node.output[0]
                    node.output[0] = f"{out}_bf16"
                    nodes.extend([node, helper.make_node("Cast", [f"{out}_bf16"], [out], to=TensorProto.FLOAT)])
                    break
            else:
                nodes.append(node)
            continue
        nodes.append(node)
        for k, out in enumerate(node.output):
            if out in bf16:
                node.output[k] = f"{out}_fp32"
                nodes.extend([helper.make_node("Cast", [f"{out}_fp32"], [f"{out}_bf16"], to=TensorProto.BFLOAT16),
                              helper.make_node("Cast", [f"{out}_bf16"], [out], to=TensorProto.FLOAT)])
    del graph.node[:]
    graph.node.extend(nodes)
    return model_copy
