"""ONNX Runtime's session profile read back as time per graph node, and the pass that takes it."""
import numpy as np

from deployprof.measure.ort_profile import timed_from_trace


def _run(ts, dur):
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def _node(name, ts, dur, op="MatMul"):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def test_warm_up_calls_are_dropped_and_fused_names_count_under_their_first_node():
    events = [_run(0, 100), _node("a", 10, 90_000),                              # warm-up call: dropped
              _run(1000, 5000), _node("a", 1010, 1000), _node("b/MatmulTransposeFusion//MatMulScaleFusion/", 2030, 500),
              _run(10000, 5000), _node("a", 10000, 3000), _node("Squeeze_token_2", 13100, 200, "Squeeze"),
              {"cat": "Node", "name": "a_fence_before", "ts": 2030, "dur": 9}, "not an event", {"ts": "x"}]
    t = timed_from_trace(events, walls_ms=[5.0, 7.0], skip=1)
    units = {u.name: u for u in t.units}
    assert t.runs == 2 and t.pass_stage_ms == 6.0 and t.source == "onnxruntime-profiler"
    assert units["a"].mean_ms == 2.0 and units["a"].onnx_nodes == ("a",)
    assert units["b/MatmulTransposeFusion//MatMulScaleFusion/"].onnx_nodes == ("b/MatmulTransposeFusion//MatMulScaleFusion/",)
    assert units["Squeeze_token_2"].mean_ms == 0.1 and units["Squeeze_token_2"].op_type == "Squeeze"
    # between kernels, sequential: run 1: b starts 20 us after a ends; run 2: Squeeze 100 us after a. Before the
    # first kernel of a run (a: 10 us, then 0) is the session's own work: no node's dispatch.
    assert "a/(dispatch)" not in units
    assert units["b/MatmulTransposeFusion//MatMulScaleFusion//(dispatch)"].mean_ms == 0.01
    assert units["Squeeze_token_2/(dispatch)"].mean_ms == 0.05
    assert units["Squeeze_token_2/(dispatch)"].op_type == "(dispatch)"
    parallel = timed_from_trace(events, walls_ms=[5.0], skip=1, sequential=False)
    assert not any(u.op_type == "(dispatch)" for u in parallel.units)


def test_a_trace_without_runs_gives_no_units():
    t = timed_from_trace([{"cat": "Node", "name": "a_kernel_time", "ts": 1, "dur": 5}], [], skip=2)
    assert t.runs == 0 and t.units == () and t.pass_stage_ms == 0.0


def _slow_node_model(path):
    import onnx
    from onnx import TensorProto, helper

    big, small = (256, 256, 64), (8,)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, big),
              helper.make_tensor_value_info("s", TensorProto.FLOAT, small)]
    outputs = [helper.make_tensor_value_info("t", TensorProto.FLOAT, big[::-1]),
               helper.make_tensor_value_info("y", TensorProto.FLOAT, small)]
    nodes = [helper.make_node("Relu", ["s"], ["r"], name="small_relu"),
             helper.make_node("Transpose", ["x"], ["t"], perm=[2, 1, 0], name="huge_transpose"),
             helper.make_node("Neg", ["r"], ["y"], name="small_neg")]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", inputs, outputs),
                                opset_imports=[helper.make_opsetid("", 18)]), str(path))
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal(big).astype(np.float32), "s": rng.standard_normal(small).astype(np.float32)}


def test_a_deliberately_slow_node_is_found_at_the_top(tmp_path):
    """The ort-cpu backend's own pass (a second, profiling session) joined with the graph: the huge Transpose is the
    top node and op type by far, the node times lie inside the stage's time (sequential execution), and the trace
    leaves nothing behind."""
    from deployprof.backends import BACKENDS, BackendOptions
    from deployprof.breakdown import breakdown, static_nodes
    from deployprof.manifest import load_subject

    feeds = _slow_node_model(tmp_path / "m.onnx")
    manifest, root = load_subject(tmp_path / "m.onnx")
    stage = manifest.stages[0]
    with BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions(intra_op_threads=1)) as b:
        assert b.layer_times_unavailable() is None
        timed = b.layer_times(feeds, runs=5, budget_s=5.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    bd = breakdown(stage.name, timed, static_nodes(root / stage.file, {}, {}), latency_stage_ms=1.0)
    top = max((n for n in bd.nodes if n.op_type != "(dispatch)"), key=lambda n: n.mean_ms)
    assert top.name == "huge_transpose" and top.op_type == "Transpose" and top.bytes == 2 * 256 * 256 * 64 * 4
    assert top.mean_ms > 10 * max(n.mean_ms for n in bd.nodes if n is not top), bd.nodes
    assert bd.op_types[0].name == "Transpose" and bd.modules[0].name == "(Transpose)"
    assert {n.op_type for n in bd.nodes} <= {"Transpose", "Relu", "Neg", "(dispatch)"}
    assert 0 < bd.coverage <= 1.0 and bd.runs == 5


def test_gpu_providers_say_they_have_no_device_accurate_node_times(tmp_path):
    from deployprof.backends import BACKENDS, BackendOptions
    from deployprof.manifest import load_subject

    _slow_node_model(tmp_path / "m.onnx")
    manifest, root = load_subject(tmp_path / "m.onnx")
    for name in ("ort-cuda", "ort-trt"):
        why = BACKENDS.get(name)(manifest.stages[0], root, manifest, BackendOptions(device="cuda")).layer_times_unavailable()
        assert "no device-accurate node times" in why and "enable_cuda_profiling" in why
