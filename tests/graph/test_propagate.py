"""The fast shape pass against ONNX's own inference: the same shape and type for every value the full path resolves,
op by op (including the clamping and axis rules that are easy to get wrong), on real exports, and a fallback
where a rule is missing. And the counter's promise: one parse per graph, whatever the number of bindings."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployprof.graph import load as load_mod
from deployprof.graph.load import load_graph

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _graph(tmp_path, nodes, inputs, outputs, inits=(), opset=18, name="g.onnx"):
    g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    path = tmp_path / name
    import onnx
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _same_as_onnx(path, dims=None):
    fast, full = load_graph(path, dims), load_graph(path, dims, fast=False)
    assert fast.inference == "deployprof", "the fast path fell back"
    resolved = {k: v for k, v in full.shapes.items() if v is not None}
    assert resolved, "ONNX resolved nothing: the comparison would be empty"
    assert {k: fast.shapes.get(k) for k in resolved} == resolved
    assert {k: fast.dtypes.get(k) for k in full.dtypes if k in fast.dtypes} == \
        {k: v for k, v in full.dtypes.items() if k in fast.dtypes}
    return fast


def x(name="x", shape=("b", 6, 8), dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def out(name="y", dtype=F):
    return helper.make_tensor_value_info(name, dtype, None)


CASES = {
    # shape arithmetic feeding Reshape: Shape -> Gather -> Mul -> Concat, with 0 and -1
    "reshape-from-shape": ([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i1"], ["d1"], axis=0),
        helper.make_node("Mul", ["d1", "two"], ["d2"]),
        helper.make_node("Concat", ["zero", "d2", "m1"], ["t"], axis=0),
        helper.make_node("Reshape", ["x", "t"], ["y"])],
        [("i1", np.array([1], np.int64)), ("two", np.array([2], np.int64)), ("zero", np.array([0], np.int64)),
         ("m1", np.array([-1], np.int64))]),
    "slice-negative-step-and-clamp": ([
        helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
        [("st", np.array([-1, -100], np.int64)), ("en", np.array([-100, 100], np.int64)),
         ("ax", np.array([1, 2], np.int64)), ("sp", np.array([-2, 3], np.int64))]),
    "unsqueeze-squeeze-concat": ([
        helper.make_node("Unsqueeze", ["x", "a0"], ["u"]),
        helper.make_node("Squeeze", ["u", "a0"], ["s"]),
        helper.make_node("Concat", ["s", "x"], ["y"], axis=-1)],
        [("a0", np.array([0, -1], np.int64))]),
    "range-expand-where-cast": ([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "k"], ["n"], axis=0),
        helper.make_node("Range", ["z", "n", "one"], ["r"]),
        helper.make_node("Less", ["r", "three"], ["m"]),
        helper.make_node("Where", ["m", "r", "three"], ["w"]),
        helper.make_node("Cast", ["w"], ["c"], to=F),
        helper.make_node("Expand", ["c", "s"], ["e"]),
        helper.make_node("Add", ["e", "x"], ["y"])],
        [("k", np.array(2, np.int64)), ("z", np.array(0, np.int64)), ("one", np.array(1, np.int64)),
         ("three", np.array(3, np.int64))]),
    "matmul-gemm-transpose-softmax": ([
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x", "t"], ["mm"]),
        helper.make_node("Softmax", ["mm"], ["sm"], axis=-1),
        helper.make_node("MatMul", ["sm", "v"], ["y"])],
        [("v", np.ones(6, np.float32))]),
    "reductions-layernorm-split": ([
        helper.make_node("ReduceMean", ["x", "ax"], ["m"], keepdims=0),
        helper.make_node("LayerNormalization", ["x", "g", "bb"], ["ln"], axis=-1),
        helper.make_node("Split", ["ln", "sz"], ["p", "q"], axis=2),
        helper.make_node("ArgMax", ["q"], ["am"], axis=1, keepdims=0),
        helper.make_node("ReduceSum", ["p"], ["y"])],
        [("ax", np.array([1], np.int64)), ("g", np.ones(8, np.float32)), ("bb", np.zeros(8, np.float32)),
         ("sz", np.array([3, 5], np.int64))]),
    "sequence-split-at": ([
        helper.make_node("SplitToSequence", ["x"], ["sq"], axis=1, keepdims=0),
        helper.make_node("SequenceAt", ["sq", "pos"], ["y"])],
        [("pos", np.array(-1, np.int64))]),
    "constant-of-shape-tile-pad": ([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("Tile", ["c", "reps"], ["t"]),
        helper.make_node("Pad", ["t", "pads"], ["y"])],
        [("reps", np.array([1, 2, 1], np.int64)), ("pads", np.array([0, 1, 2, 0, 1, 0], np.int64))]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_matches_onnx_inference(tmp_path, case):
    nodes, inits = CASES[case]
    _same_as_onnx(_graph(tmp_path, nodes, [x()], [out()], inits), {"b": 3})


def test_conv_and_pool_padding_rules(tmp_path):
    nodes = [helper.make_node("Conv", ["img", "w"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c1", "w2"], ["c2"], auto_pad="SAME_UPPER", strides=[2, 2], dilations=[1, 1]),
             helper.make_node("MaxPool", ["c2"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "wg"], ["y"], transB=1)]
    inits = [("w", np.ones((4, 3, 3, 3), np.float32)), ("w2", np.ones((8, 4, 3, 3), np.float32)),
             ("wg", np.ones((5, 8), np.float32))]
    _same_as_onnx(_graph(tmp_path, nodes, [x("img", ("b", 3, 37, 29))], [out()], inits), {"b": 2})


def test_opset_11_attribute_forms(tmp_path):
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
             helper.make_node("Squeeze", ["u"], ["s"], axes=[0]),
             helper.make_node("ReduceSum", ["s"], ["y"], axes=[1], keepdims=1)]
    _same_as_onnx(_graph(tmp_path, nodes, [x()], [out()], opset=11), {"b": 4})


def test_a_graph_without_a_rule_takes_the_full_path(tmp_path):
    nodes = [helper.make_node("Einsum", ["x", "x"], ["y"], equation="bij,bkj->bik")]
    path = _graph(tmp_path, nodes, [x()], [out()])
    g = load_graph(path, {"b": 2})
    assert g.inference.startswith("onnx") and g.shapes["y"] == (2, 6, 6)


def test_real_exports_give_the_same_shapes_and_counts(tiny_export):
    from deployprof.flops.analyze import analyze_graph
    from deployprof.manifest import read_manifest

    m = read_manifest(tiny_export)
    dims = {**m.default_dims, "batch": 2}
    for s in m.stages:
        fast = _same_as_onnx(tiny_export / s.file, dims)
        full = load_graph(tiny_export / s.file, dims, fast=False)
        a, b = (analyze_graph(g, weight_inputs=s.weight_inputs) for g in (fast, full))
        assert a == b, s.name


def _steps(folder, steps):
    m = json.loads((folder / "manifest.json").read_text())
    for call in m["schedule"]:
        if call.get("loop"):
            call["loop"]["steps"], call["repeat"] = steps, steps - 1
    (folder / "manifest.json").write_text(json.dumps(m))


def test_more_kv_lengths_or_batches_add_no_graph_parses(openvla_tiny_export, tmp_path):
    import shutil

    from deployprof.flops.summary import summarize
    from deployprof.pipeline import static_cost
    from deployprof.manifest import load_subject

    totals = {}
    for steps in (4, 12):
        folder = tmp_path / f"s{steps}"
        shutil.copytree(openvla_tiny_export, folder)
        _steps(folder, steps)
        load_mod._PARSED.clear()
        before = load_mod.PARSES
        totals[steps] = summarize(folder, {}, {}).policy_step_flops_total
        assert load_mod.PARSES - before == 3, "one parse per stage graph, not per KV length"
        for batch in (1, 2, 4):
            static_cost(load_subject(folder), batch, {})
        assert load_mod.PARSES - before == 3, "batch sizes add no parse either"
    assert totals[12] > totals[4]


def test_the_parse_cache_is_bounded_by_bytes_and_drops_what_it_derived(tiny_export, monkeypatch):
    files = [tiny_export / "vision.onnx", tiny_export / "prefix.onnx"]
    monkeypatch.setattr(load_mod, "_PARSED_MAX_BYTES", max(f.stat().st_size for f in files))
    load_mod._PARSED.clear()
    load_mod._DERIVED.clear()
    for f in files:
        load_graph(f, {"batch": 1})
    assert len(load_mod._PARSED) == 1 and set(load_mod._DERIVED) == {id(m) for m in load_mod._PARSED.values()}
    assert set(load_mod._DERIVED[id(next(iter(load_mod._PARSED.values())))]) == {"signature", "nodes"}
