"""ONNX Runtime's session profile read back as time per graph node."""
import json

import numpy as np

from deployprof.measure.ort_profile import node_times


def test_fused_names_count_under_their_first_node_and_inserted_ones_apart():
    events = [{"cat": "Node", "name": "a_kernel_time", "dur": 1000},
              {"cat": "Node", "name": "a_kernel_time", "dur": 3000},
              {"cat": "Node", "name": "b/MatmulTransposeFusion//MatMulScaleFusion/_kernel_time", "dur": 500},
              {"cat": "Node", "name": "Squeeze_token_2_kernel_time", "dur": 200},
              {"cat": "Node", "name": "a_fence_before", "dur": 9},
              {"cat": "Session", "name": "model_run", "dur": 99999}, "not an event"]
    t = node_times(events, runs=2, graph_nodes={"a", "b", "c"})
    assert t.mean_ms == {"a": 2.0, "b": 0.25} and t.unattributed_ms == 0.1


def test_a_deliberately_slow_node_is_found_at_the_top(tmp_path):
    """A real profile of a graph with a huge Transpose beside two tiny ops: it is the top node, by far."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    big, small = (256, 256, 64), (8,)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, big),
              helper.make_tensor_value_info("s", TensorProto.FLOAT, small)]
    outputs = [helper.make_tensor_value_info("t", TensorProto.FLOAT, big[::-1]),
               helper.make_tensor_value_info("y", TensorProto.FLOAT, small)]
    nodes = [helper.make_node("Relu", ["s"], ["r"], name="small_relu"),
             helper.make_node("Transpose", ["x"], ["t"], perm=[2, 1, 0], name="huge_transpose"),
             helper.make_node("Neg", ["r"], ["y"], name="small_neg")]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    so = ort.SessionOptions()
    so.enable_profiling, so.profile_file_prefix = True, str(tmp_path / "prof")
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"x": rng.standard_normal(big).astype(np.float32), "s": rng.standard_normal(small).astype(np.float32)}
    for _ in range(3):
        session.run(None, feed)
    t = node_times(json.loads(open(session.end_profiling()).read()), 3, {n.name for n in nodes})
    assert t.mean_ms["huge_transpose"] > 10 * max(t.mean_ms["small_relu"], t.mean_ms["small_neg"]), t.mean_ms
    assert set(t.mean_ms) == {n.name for n in nodes}
