"""The join of a layer-time pass with the graph: attribution, the module tree, static cost and roofline bounds."""
import dataclasses

import pytest

from deployprof.breakdown import StaticNode, breakdown, judged, with_ceilings
from deployprof.findings import breakdown_finding, top_modules
from deployprof.measure.layer_pass import Timed, Unit
from deployprof.results import Ceilings, MeasuredDevice

from .test_results import make_report
from .conftest import FAST, invoke

GRAPH = {   # two decoder layers (attention + mlp), a final norm, and a node the exporter gave no module
    "q0": StaticNode("MatMul", ("layers.0", "layers.0.attn"), 4_000_000, 100_000),
    "sm0": StaticNode("Softmax", ("layers.0", "layers.0.attn"), 10_000, 400_000),
    "up0": StaticNode("MatMul", ("layers.0", "layers.0.mlp"), 8_000_000, 200_000),
    "q1": StaticNode("MatMul", ("layers.1", "layers.1.attn"), 4_000_000, 100_000),
    "up1": StaticNode("MatMul", ("layers.1", "layers.1.mlp"), 8_000_000, 200_000),
    "norm": StaticNode("LayerNormalization", ("norm",), 1_000, 8_000),
    "shape": StaticNode("Reshape", (), 0, 64),
}
CEIL = Ceilings("test cpu", "fp32", peak_gflop_per_s=100.0, bandwidth_gb_per_s=10.0, source="given")


def _timed(**ms):
    return Timed("onnxruntime-profiler", 10, pass_stage_ms=sum(ms.values()) / 0.9,
                 units=tuple(Unit(n, v, onnx_nodes=(n,)) for n, v in ms.items()))


def test_module_tree_at_every_depth_sums_to_its_leaves():
    b = breakdown("denoise", _timed(q0=0.1, sm0=0.05, up0=0.2, q1=0.1, up1=0.2, norm=0.01, shape=0.3),
                  GRAPH, latency_stage_ms=0.8)
    mods = {(c.name, c.depth): c for c in b.modules}
    assert sum(c.mean_ms for c in b.modules if c.depth == 1) == pytest.approx(b.attributed_ms)
    assert mods[("layers.0", 1)].mean_ms == pytest.approx(mods[("layers.0.attn", 2)].mean_ms + mods[("layers.0.mlp", 2)].mean_ms)
    assert mods[("layers.0", 1)].flops == 12_010_000 and mods[("layers.0", 1)].nodes == 3
    assert mods[("(Reshape)", 1)].mean_ms == 0.3               # no module path: its op type, at depth 1
    rows, rest = b.at_depth(2)
    assert {c.name for c in rows} == {"layers.0.attn", "layers.0.mlp", "layers.1.attn", "layers.1.mlp"}
    assert sum(c.mean_ms for c in rows) + rest == pytest.approx(b.attributed_ms) and rest == pytest.approx(0.31)
    assert b.coverage == pytest.approx(0.9) and b.overhead == pytest.approx(b.pass_stage_ms / 0.8)
    assert [c.name for c in b.op_types][:2] == ["MatMul", "Reshape"]
    assert b.op_types[0].flops == 24_000_000 and b.op_types[0].achieved_gflop_per_s == pytest.approx(24e6 / 0.6 / 1e6)


def test_a_fused_layer_is_split_over_its_nodes_by_flops():
    t = Timed("tensorrt-iprofiler", 5, 1.0, (Unit("fused_mlp_0", 0.9, onnx_nodes=("q0", "up0")),
                                             Unit("myelin_copy", 0.1, onnx_nodes=("not_in_graph",), op_type="(layer)")))
    b = breakdown("s", t, GRAPH, 1.0)
    parts = {n.name: n for n in b.nodes}
    assert parts["fused_mlp_0:up0"].mean_ms == pytest.approx(0.6) and parts["fused_mlp_0:q0"].mean_ms == pytest.approx(0.3)
    assert parts["fused_mlp_0:up0"].module_path == ("layers.0", "layers.0.mlp")
    assert parts["myelin_copy"].op_type == "(layer)" and parts["myelin_copy"].flops is None


def test_bounds_compute_memory_overhead_and_unknown():
    # up0: 8 MFLOP at 100 GFLOP/s = 0.08 ms, 0.2 MB at 10 GB/s = 0.02 ms -> compute floor 0.08 ms
    # attn (every graph node under it, timed or not: q0 + sm0): 4.01 MFLOP -> 0.0401 ms, 0.5 MB -> 0.05 ms: memory
    # norm: floor 0.0008 ms, measured 0.05 ms: over 10x -> overhead
    b = judged(breakdown("s", _timed(up0=0.1, sm0=0.05, norm=0.05), GRAPH, 1.0), CEIL)
    by = {c.name: c for c in b.modules}
    assert by["layers.0.mlp"].bound == "compute" and by["layers.0.mlp"].floor_ms == pytest.approx(0.08)
    assert by["layers.0.attn"].bound == "memory" and by["layers.0.attn"].floor_ms == pytest.approx(0.05)
    assert by["norm"].bound == "overhead"
    torch_op = Timed("torch-profiler", 3, 1.0, (Unit("x/aten::add", 0.1, op_type="aten::add", module_path=("x",)),))
    b = judged(breakdown("s", torch_op, GRAPH, 1.0), CEIL)
    assert b.op_types[0].bound == "unknown" and b.op_types[0].flops is None   # a torch operator without counts
    assert b.modules[0].name == "x" and b.modules[0].bound == "unknown"        # a module the graph does not name
    # torch's own count (with_flops) and input bytes give an op-type row its floor and bound (once '-', unknown)
    counted = Timed("torch-profiler", 3, 1.0, (Unit("x/aten::linear", 0.1, op_type="aten::linear", module_path=("x",),
                                                    flops=8_000_000, bytes=100_000),))
    b = judged(breakdown("s", counted, GRAPH, 1.0), CEIL)
    assert b.op_types[0].bound == "compute" and b.op_types[0].floor_ms == pytest.approx(0.08)
    assert any("lower bounds" in n for n in b.notes)


def test_a_component_faster_than_its_floor_is_flagged():
    """A module at 104.9% of the roofline went by without a word: over 100% is a wrong count or ceiling."""
    from deployprof.findings import run_warnings
    from deployprof.report.sections import breakdown_tables

    b = judged(breakdown("s", _timed(up0=0.07626, up1=0.2), GRAPH, 1.0), CEIL)   # up0's floor: 0.08 ms
    run = _stage("s", b)
    (line,) = [w for w in run_warnings([run], {}) if "roofline floor" in w]
    assert "faster than the roofline floor of test cpu (" in line and "layers.0.mlp 104.9%" in line, line
    cells = [row[-1] for t in breakdown_tables((run,)) for row in t.rows]
    assert "104.9% (!)" in cells, cells


def _stage(stage, b, p50=1.0, **kw):
    r = make_report().runs[0]
    return dataclasses.replace(r, stage=stage, breakdown=b, latency=dataclasses.replace(r.latency, p50_ms=p50), **kw)


def test_the_device_that_ran_it_sets_the_ceilings_and_a_device_without_any_says_so():
    b = breakdown("denoise", _timed(up0=0.1, sm0=0.05), GRAPH, 1.0)
    ran = _stage("denoise", b, measured_on=MeasuredDevice("cpu", "test cpu"))
    elsewhere = _stage("denoise", b, measured_on=MeasuredDevice("gpu", "Unknown GPU 9000"))
    from deployprof.targets import TargetProfile

    target = TargetProfile(name="mine", description="", kind="cpu", memory_gib=1.0, unified_memory=True,
                           memory_bandwidth_gbs=10.0, peak_tflops={"fp32": 0.1})
    mine, unknown = with_ceilings([ran, elsewhere], target)
    assert mine.breakdown.ceilings == Ceilings("test cpu", "fp32", 100.0, 10.0, "mine: datasheet")
    assert {c.bound for c in mine.breakdown.modules} == {"compute", "memory"}
    assert unknown.breakdown.ceilings is None and "no roofline for Unknown GPU 9000" in unknown.breakdown.notes[0]


def test_findings_name_the_top_three_modules_of_the_slowest_stage():
    fast = judged(breakdown("vision", _timed(q0=0.01), GRAPH, 0.1), CEIL)
    slow = judged(breakdown("denoise", _timed(q0=0.1, sm0=0.05, up0=0.2, q1=0.1, up1=0.2, norm=0.01), GRAPH, 1.0), CEIL)
    assert [c.name for c in top_modules(slow)] == ["layers.0", "layers.1"]   # norm holds 1.5%: not named
    one = judged(breakdown("s", Timed("t", 1, 1.0, (Unit("a", 0.5, module_path=("enc", "enc.a")),
                                                    Unit("b", 0.4, module_path=("enc", "enc.b")))), {}, 1.0), CEIL)
    assert [c.name for c in top_modules(one, n=2)] == ["enc.a", "enc.b"]   # one wrapper module: look one level in
    runs = [_stage("vision", fast, p50=0.1), _stage("denoise", slow, p50=1.0), _stage("policy_step", None, p50=1.2)]
    runs[-1] = dataclasses.replace(runs[-1], stage_mean_ms={"vision": 0.1, "denoise": 1.0})
    line = breakdown_finding(runs[-1], runs)
    assert line.startswith("trt/fp32 b1: in denoise, the slowest stage, layers.0 53% (compute-bound, 34% of its roofline)")
    assert "90% of the stage in nodes" in line and "; no other module holds 5% of the node time" in line


def test_a_node_the_runtime_renamed_after_its_output_finds_the_fused_graph_node():
    """ONNX Runtime's NCHWc transformer names the Conv it rewrote (with the BatchNorm and Relu fused into it) after
    the tensor it now writes: `relu_nchwc`. Its time goes to the graph's Conv, with the Conv's module and FLOPs."""
    graph = {"conv": StaticNode("Conv", ("backbone", "backbone.conv"), 1000, 10, ("x", "w"), ("c",)),
             "bn": StaticNode("BatchNormalization", ("backbone", "backbone.bn"), 10, 10, ("c",), ("b",)),
             "act": StaticNode("Relu", ("backbone", "backbone.act"), 5, 10, ("b",), ("relu",)),
             "pool": StaticNode("MaxPool", ("head",), 5, 10, ("relu",), ("p",))}
    t = Timed("onnxruntime-profiler", 1, 2.0, (Unit("relu_nchwc", 1.0, onnx_nodes=("relu_nchwc",), op_type="Conv"),
                                               Unit("p_nchwc", 0.5, onnx_nodes=("p_nchwc",), op_type="ReorderOutput"),
                                               Unit("mystery", 0.1, onnx_nodes=("mystery",), op_type="Reorder")))
    nodes = {n.name: n for n in breakdown("s", t, graph, 2.0).nodes}
    assert nodes["conv"].mean_ms == 1.0 and nodes["conv"].flops == 1000 and nodes["conv"].module_path[-1] == "backbone.conv"
    assert nodes["pool"].mean_ms == 0.5          # no node of its op type above: the tensor's producer
    assert nodes["mystery"].op_type == "Reorder" and nodes["mystery"].module_path == ()


def _runs(**per_run):
    """Units with their time in each of the pass's runs, as ONNX Runtime's trace gives them."""
    return Timed("onnxruntime-profiler", len(next(iter(per_run.values()))), 1.0,
                 tuple(Unit(n, sum(v) / len(v), onnx_nodes=(n,), per_run_ms=tuple(v)) for n, v in per_run.items()))


def test_modules_rank_by_their_median_over_runs_with_an_interval():
    """One run in which a preemption lands inside q0 (10 ms) inflates its mean 20x over 20 runs; the median and the
    ranking do not move, and two modules whose intervals overlap are marked as tied."""
    from deployprof.report.sections import ranks

    up = [0.2 + 0.001 * i for i in range(20)]
    q = [0.1] * 19 + [10.0]
    b = breakdown("s", _runs(q0=q, up0=up, q1=[0.099 + 0.001 * (i % 3) for i in range(20)],
                             up1=[0.199 + 0.001 * (i % 3) for i in range(20)]), GRAPH, 1.0)
    rows, _ = b.at_depth(2)
    assert [c.name for c in rows] == ["layers.0.mlp", "layers.1.mlp", "layers.0.attn", "layers.1.attn"]
    attn = next(c for c in rows if c.name == "layers.0.attn")
    assert attn.median_ms == pytest.approx(0.1) and attn.mean_ms > 0.5 and attn.ci_ms == (0.1, 0.1)
    mlp = rows[0]
    assert mlp.ci_ms[0] <= mlp.median_ms <= mlp.ci_ms[1]
    assert ranks(rows) == ["1", "2", "3", "3="]    # the two attn overlap: their order is no finding
    few = breakdown("s", _runs(q0=[0.1, 0.2], up0=[0.3, 0.3]), GRAPH, 1.0)
    assert few.modules[0].median_ms is not None and few.modules[0].ci_ms is None   # 2 runs bound no median
    assert ranks(few.at_depth(1)[0]) == ["1"]
    means_only = breakdown("s", _timed(q0=0.1, up0=0.2), GRAPH, 1.0)   # a profiler without runs told apart
    assert ranks(means_only.at_depth(2)[0]) == ["1", "2"]


def test_identical_siblings_are_compared_as_a_group():
    from deployprof.report.sections import sibling_groups

    b = breakdown("s", _runs(q0=[0.2] * 8, q1=[0.21] * 8, up0=[0.43] * 8, up1=[0.025] * 8), GRAPH, 1.0)
    rows = {r[1]: r for r in sibling_groups(b)}
    assert rows["layers.*.mlp"][2] == "2" and rows["layers.*.mlp"][-1] == "17.2x"
    assert "layers.0.mlp" in rows["layers.*.mlp"][5]
    # layers.0.attn holds a Softmax layers.1.attn has not: not the same work, not a group
    assert "layers.*.attn" not in rows and "layers.*" not in rows


def test_auto_depth_is_the_deepest_at_which_named_modules_hold_most_of_the_time():
    deep = breakdown("s", _timed(q0=0.1, up0=0.2, q1=0.1, up1=0.2, norm=0.01), GRAPH, 1.0)
    assert deep.auto_depth() == 2
    # Most of the time in a node that sits directly in a layer, in no submodule: depth 2 would show a small part
    g = {**GRAPH, "core": StaticNode("MatMul", ("layers.0",), 1, 1)}
    shallow = breakdown("s", _timed(q0=0.1, up0=0.1, core=2.0), g, 1.0)
    assert shallow.auto_depth() == 1


def test_depth_auto_on_the_command_line():


    r = invoke(["bench", "x.onnx", "--backend", "ort-cpu", "--depth", "deep"])
    assert r.exit_code == 2 and "expects auto or an integer in [1, 64], got 'deep'" in r.output


def test_the_finding_names_identical_siblings_as_one():
    """pi0-small's six identical layers tie (their intervals overlap): a top three drawn from them changed on every
    run. The finding names them as one group, which reproduces."""
    g = {"a0": StaticNode("MatMul", ("layers.0",), 1000, 10), "a1": StaticNode("MatMul", ("layers.1",), 1000, 10),
         "a2": StaticNode("MatMul", ("layers.2",), 1000, 10), "h": StaticNode("MatMul", ("head",), 10, 1),
         "n": StaticNode("LayerNormalization", ("norm",), 5, 1)}
    b = breakdown("s", _runs(a0=[0.31] * 8, a1=[0.30] * 8, a2=[0.32] * 8, h=[0.05] * 8, n=[0.01] * 8), g, 1.0)
    names = [c.name for c in top_modules(b)]
    assert names == ["layers.* (3 alike)", "head"]      # norm holds 1%: below what a finding names
    group = b.grouped_at(1)[0]
    assert group.nodes == 3 and group.mean_ms == pytest.approx(0.93) and group.flops == 3000
    assert group.median_ms == pytest.approx(0.93) and group.ci_ms is None


def test_the_profilers_own_cost_per_node_is_taken_out_of_dispatch():
    t = dataclasses.replace(_runs(q0=[0.1] * 6, up0=[0.2] * 6), profiler_node_ms=0.02)
    t = dataclasses.replace(t, units=t.units + (Unit("up0/(dispatch)", 0.05, onnx_nodes=("up0",), op_type="(dispatch)",
                                                     per_run_ms=(0.05,) * 6),
                                                Unit("q0/(dispatch)", 0.01, onnx_nodes=("q0",), op_type="(dispatch)",
                                                     per_run_ms=(0.01,) * 6)))
    b = breakdown("s", t, GRAPH, 1.0)
    nodes = {n.name: n for n in b.nodes}
    assert nodes["up0/(dispatch)"].mean_ms == pytest.approx(0.03) and nodes["q0/(dispatch)"].mean_ms == 0.0
    assert b.attributed_ms == pytest.approx(0.33) and b.profiler_node_ms == 0.02
    assert any("20.0 us per node" in n for n in b.notes)


def test_onnx_runtimes_profiler_cost_is_measured():
    pytest.importorskip("onnxruntime")
    from deployprof.backends.ort import profiler_node_cost_ms

    cost = profiler_node_cost_ms()
    assert 0.0 <= cost < 1.0   # ms per node: microseconds on any machine that runs the suite


def test_fused_and_torchscript_node_names_resolve_to_their_graph_node():
    """ONNX Runtime's trace names a fused node `first/FusionName//Other/`; a TorchScript export's nodes are named by
    their module path (`/encoder/layer.0/MatMul`). Both once lost their module: every node of a TorchScript ViT fell
    into one `(rest)` row."""
    from deployprof.breakdown import StaticNode, resolve

    graph = {"b": StaticNode("MatMul", (), 1, 1), "/encoder/layer.0/MatMul": StaticNode("MatMul", ("encoder",), 1, 1)}
    assert resolve("b/MatmulTransposeFusion//MatMulScaleFusion/", "MatMul", graph, {}) == "b"
    assert resolve("/encoder/layer.0/MatMul", "MatMul", graph, {}) == "/encoder/layer.0/MatMul"
    assert resolve("/encoder/layer.0/MatMul/MatmulTransposeFusion//", "MatMul", graph, {}) == "/encoder/layer.0/MatMul"
    assert resolve("/elsewhere/Add", "Add", graph, {}) is None


def test_a_torchscript_named_graph_keeps_its_modules_through_onnx_runtimes_profiler(tmp_path):
    """The whole path: ONNX Runtime's trace of a graph named as the TorchScript exporter names it, joined."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper


    w = [numpy_helper.from_array(np.ones((64, 64), np.float32), f"w{i}") for i in range(2)]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h"], name="/encoder/layer.0/MatMul"),
             helper.make_node("Relu", ["h"], ["r"], name="/encoder/layer.0/Relu"),
             helper.make_node("MatMul", ["r", "w1"], ["y"], name="/head/MatMul")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 64])], w)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "ts.onnx"))
    res = invoke(["bench", str(tmp_path / "ts.onnx"), *FAST, "--no-store", "--json"])
    b = json.loads(res.stdout)["runs"][0]["breakdown"]
    top = {m["name"] for m in b["modules"] if m["depth"] == 1}
    assert {"encoder", "head"} <= top, top
