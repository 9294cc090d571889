"""Single-op counts against hand-computed values (the issue's reference figures)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployprof.errors import ConfigError
from deployprof.flops import analyze_model

F = TensorProto.FLOAT


def save(tmp_path, nodes, inputs, outputs, inits=(), opset=18, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / name
    onnx.save(model, path)
    return path


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def count(tmp_path, *a, **kw):
    return analyze_model(save(tmp_path, *a, **kw))


def test_matmul(tmp_path):
    r = count(tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", [64, 128]), vi("b", [128, 256])], [vi("y", None)])
    assert r.macs == 2_097_152 and r.flops == 2 * 2_097_152 and not r.lower_bound


@pytest.mark.parametrize("a,b,expected", [
    ([128], [128, 256], 128 * 256),                # 1-D left
    ([4, 64, 128], [128], 4 * 64 * 128),           # 1-D right
    ([2, 1, 8, 16], [3, 16, 4], 2 * 3 * 8 * 16 * 4),  # broadcast batch
])
def test_matmul_broadcast_and_1d(tmp_path, a, b, expected):
    r = count(tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", a), vi("b", b)], [vi("y", None)])
    assert r.macs == expected


def test_gemm_transb_bias(tmp_path):
    w = numpy_helper.from_array(np.zeros((1000, 512), np.float32), "w")
    bias = numpy_helper.from_array(np.zeros((1000,), np.float32), "c")
    r = count(tmp_path, [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)], [vi("a", [8, 512])], [vi("y", None)], [w, bias])
    assert r.macs == 4_096_000 and r.bias_flops == 8_000
    assert r.params == 512_000 + 1000 and r.weight_bytes == 4 * 513_000


def test_conv_stride2(tmp_path):
    w = numpy_helper.from_array(np.zeros((128, 64, 3, 3), np.float32), "w")
    r = count(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])],
              [vi("x", [1, 64, 56, 56])], [vi("y", None)], [w])
    assert r.macs == 57_802_752


def test_depthwise_conv(tmp_path):
    w = numpy_helper.from_array(np.zeros((96, 1, 3, 3), np.float32), "w")
    r = count(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], group=96, auto_pad="SAME_UPPER")],
              [vi("x", [1, 96, 112, 112])], [vi("y", None)], [w])
    assert r.macs == 10_838_016


def test_conv_transpose(tmp_path):
    w = numpy_helper.from_array(np.zeros((64, 32, 4, 4), np.float32), "w")
    r = count(tmp_path, [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])],
              [vi("x", [1, 64, 32, 32])], [vi("y", None)], [w])
    assert r.macs == 33_554_432


def test_einsum(tmp_path):
    r = count(tmp_path, [helper.make_node("Einsum", ["q", "k"], ["y"], equation="bhqd,bhkd->bhqk")],
              [vi("q", [1, 8, 128, 64]), vi("k", [1, 8, 128, 64])], [vi("y", None)])
    assert r.macs == 8_388_608


def test_lstm_and_gru(tmp_path):
    w = numpy_helper.from_array(np.zeros((1, 256, 64), np.float32), "w")
    rr = numpy_helper.from_array(np.zeros((1, 256, 64), np.float32), "r")
    r = count(tmp_path, [helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=64)],
              [vi("x", [100, 1, 64])], [vi("y", None)], [w, rr])
    assert r.macs == 3_276_800
    w = numpy_helper.from_array(np.zeros((1, 192, 64), np.float32), "w")
    rr = numpy_helper.from_array(np.zeros((1, 192, 64), np.float32), "r")
    r = count(tmp_path, [helper.make_node("GRU", ["x", "w", "r"], ["y"], hidden_size=64)],
              [vi("x", [50, 1, 64])], [vi("y", None)], [w, rr], name="gru.onnx")
    assert r.macs == 1_228_800


def test_opset23_attention(tmp_path):
    shape = [1, 8, 128, 64]
    r = count(tmp_path, [helper.make_node("Attention", ["q", "k", "v"], ["y"])],
              [vi("q", shape), vi("k", shape), vi("v", shape)], [vi("y", None)], opset=23)
    assert r.macs == 16_777_216


def test_softmax_other_flops(tmp_path):
    r = count(tmp_path, [helper.make_node("Softmax", ["x"], ["y"], axis=-1)], [vi("x", [1, 12, 197, 197])], [vi("y", None)])
    assert r.other_flops == 2_328_540 and r.macs == 0 and r.flops_total == 2_328_540


def test_unknown_op_is_reported_never_zero(tmp_path):
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="my.custom")
    graph = helper.make_graph([node], "g", [vi("x", [4])], [vi("y", [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("my.custom", 1)])
    path = tmp_path / "u.onnx"
    onnx.save(model, path)
    r = analyze_model(path)
    assert r.unknown_ops == {"my.custom.FancyOp": 1} and r.lower_bound


def test_unbound_dim_is_assumed_one_and_listed_or_refused_under_strict(tmp_path):
    """As Polygraphy and ORT's perf tool do: a free dim counts at 1, and the report says so (it once gave 0 MACs)."""
    path = save(tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", ["n", 128]), vi("b", [128, 256])], [vi("y", None)])
    r = analyze_model(path)
    assert not r.lower_bound and r.macs == 128 * 256 and r.assumed_dims == {"n": 1}
    assert r.macs == analyze_model(path, dims={"n": 1}).macs
    bound = analyze_model(path, dims={"n": 64})
    assert bound.macs == 2_097_152 and bound.assumed_dims == {}
    assert analyze_model(path, shapes={"a": (64, 128)}).macs == 2_097_152
    with pytest.raises(ConfigError, match="unbound input dimension.*n.*--dim NAME=N"):
        analyze_model(path, strict=True)


def test_unnamed_free_dim_is_named_by_input_and_axis(tmp_path):
    path = save(tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", [None, 128]), vi("b", [128, 256])], [vi("y", None)])
    assert analyze_model(path).assumed_dims == {"a[0]": 1}


def test_constant_subgraph_is_free(tmp_path):
    w = numpy_helper.from_array(np.ones((16, 16), np.float32), "w")
    nodes = [helper.make_node("Mul", ["w", "w"], ["w2"]), helper.make_node("MatMul", ["x", "w2"], ["y"])]
    r = count(tmp_path, nodes, [vi("x", [4, 16])], [vi("y", None)], [w])
    assert r.macs == 4 * 16 * 16 and r.other_flops == 0 and r.constant_folded_nodes == 1


def test_loop_multiplied_by_static_trip_count(tmp_path):
    body = helper.make_graph(
        [helper.make_node("MatMul", ["xs", "w"], ["xo"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("xs", [4, 16])],
        [vi("cond_out", [], TensorProto.BOOL), vi("xo", [4, 16])])
    inits = [numpy_helper.from_array(np.array(10, np.int64), "trip"), numpy_helper.from_array(np.array(True), "cond"),
             numpy_helper.from_array(np.ones((16, 16), np.float32), "w")]
    r = count(tmp_path, [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body, name="loop0")],
              [vi("x", [4, 16])], [vi("y", [4, 16])], inits)
    assert r.macs == 10 * 4 * 16 * 16 and not r.unresolved_nodes


def _loop_model(tmp_path, trip_init):
    body = helper.make_graph(
        [helper.make_node("MatMul", ["xs", "w"], ["xo"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("xs", [4, 16])],
        [vi("cond_out", [], TensorProto.BOOL), vi("xo", [4, 16])])
    inits = [numpy_helper.from_array(np.array(True), "cond"), numpy_helper.from_array(np.ones((16, 16), np.float32), "w")]
    inputs = [vi("x", [4, 16])]
    if trip_init:
        inits.append(numpy_helper.from_array(np.array(10, np.int64), "trip"))
    else:
        inputs.append(vi("trip", [], TensorProto.INT64))
    return save(tmp_path, [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body, name="loop0")],
                inputs, [vi("y", [4, 16])], inits, name="loop.onnx")


def test_dynamic_trip_count_is_unresolved_then_bindable(tmp_path):
    path = _loop_model(tmp_path, trip_init=False)
    r = analyze_model(path)
    assert r.lower_bound and any("dynamic trip count" in u for u in r.unresolved_nodes)
    assert analyze_model(path, dims={"loop0": 7}).macs == 7 * 4 * 16 * 16


def test_if_counts_the_costlier_branch(tmp_path):
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["t"])], "then", [], [vi("t", [8, 8])])
    else_g = helper.make_graph([helper.make_node("Relu", ["x"], ["e"])], "else", [], [vi("e", [8, 8])])
    r = count(tmp_path, [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [vi("c", [], TensorProto.BOOL), vi("x", [8, 8])], [vi("y", [8, 8])])
    assert r.macs == 8 * 8 * 8


def test_scan_multiplies_by_sequence_length(tmp_path):
    body = helper.make_graph([helper.make_node("MatMul", ["xi", "w"], ["yi"]), helper.make_node("Identity", ["s"], ["s2"])],
                             "body", [vi("s", [1]), vi("xi", [1, 16])], [vi("s2", [1]), vi("yi", [1, 16])])
    w = numpy_helper.from_array(np.ones((16, 16), np.float32), "w")
    r = count(tmp_path, [helper.make_node("Scan", ["s0", "xs"], ["sN", "ys"], body=body, num_scan_inputs=1)],
              [vi("s0", [1]), vi("xs", [12, 1, 16])], [vi("sN", None), vi("ys", None)], [w])
    assert r.macs == 12 * 16 * 16


def test_attention_with_past_kv_and_grouped_heads(tmp_path):
    # q: 8 heads, kv: 2 heads (GQA); 16 new tokens attend to 48 cached + 16 new.
    r = count(tmp_path, [helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "pko", "pvo"])],
              [vi("q", [1, 8, 16, 64]), vi("k", [1, 2, 16, 64]), vi("v", [1, 2, 16, 64]),
               vi("pk", [1, 2, 48, 64]), vi("pv", [1, 2, 48, 64])], [vi("y", None), vi("pko", None), vi("pvo", None)], opset=23)
    assert r.macs == 1 * 8 * 16 * 64 * (64 + 64)


def test_ms_group_query_attention(tmp_path):
    node = helper.make_node("GroupQueryAttention", ["q", "k", "v", "pk", "pv"], ["y", "pko", "pvo"], domain="com.microsoft",
                            num_heads=8, kv_num_heads=2)
    graph = helper.make_graph([node], "g", [vi("q", [1, 16, 512]), vi("k", [1, 16, 128]), vi("v", [1, 16, 128]),
                                            vi("pk", [1, 2, 48, 64]), vi("pv", [1, 2, 48, 64])],
                              [vi("y", [1, 16, 512]), vi("pko", None), vi("pvo", None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, tmp_path / "gqa.onnx")
    assert analyze_model(tmp_path / "gqa.onnx").macs == 8 * 16 * 64 * (64 + 64)


def test_quantized_matmul_and_conv(tmp_path):
    u8 = TensorProto.UINT8
    r = count(tmp_path, [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
              [vi("a", [32, 64], u8), vi("b", [64, 16], u8)], [vi("y", None, TensorProto.INT32)])
    assert r.macs == 32 * 64 * 16
    scal = [numpy_helper.from_array(np.array(0.1, np.float32), n) for n in ("sa", "sb", "sy")] + \
           [numpy_helper.from_array(np.array(0, np.uint8), n) for n in ("za", "zb", "zy")]
    r = count(tmp_path, [helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])],
              [vi("a", [32, 64], u8), vi("b", [64, 16], u8)], [vi("y", None, u8)], scal, name="q.onnx")
    assert r.macs == 32 * 64 * 16
