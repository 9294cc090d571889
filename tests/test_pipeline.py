"""The orchestrator on its own: plan -> prepare -> measure -> assemble for a two-stage graph built here, with a
backend registered for the test and the inline launcher (no export, no subprocess: each step's output is seen)."""
import numpy as np
import pytest

from deployprof.config import AccuracyConfig, MeasureConfig, Settings
from deployprof.findings import Warnings
from deployprof.manifest import MANIFEST_VERSION, CallSpec, Manifest, StageSpec, TensorSpec
from deployprof.pipeline import measure_prepared, plan_profile, prepare, profile
from deployprof.results import POLICY_STEP


def _stage(folder, name, node, inputs, outputs, weights=()):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([node], name, [helper.make_tensor_value_info(i, TensorProto.FLOAT, ["batch", 16]) for i in inputs],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", 16]) for o in outputs],
                              list(weights))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(folder / f"{name}.onnx"))
    spec = lambda n: TensorSpec(n, "float32", ("batch", 16))   # noqa: E731
    return StageSpec(name=name, file=f"{name}.onnx", inputs=tuple(map(spec, inputs)), outputs=tuple(map(spec, outputs)))


@pytest.fixture
def two_stage(tmp_path):
    """encode: relu(obs) -> h; act: h @ W -> action (W = 2 I: the action is 2 relu(obs))."""
    from onnx import helper, numpy_helper

    folder = tmp_path / "export"
    folder.mkdir()
    w = numpy_helper.from_array(2 * np.eye(16, dtype=np.float32), "w")
    stages = (_stage(folder, "encode", helper.make_node("Relu", ["obs"], ["h"]), ["obs"], ["h"]),
              _stage(folder, "act", helper.make_node("MatMul", ["h", "w"], ["action"]), ["h"], ["action"], [w]))
    Manifest(schema_version=MANIFEST_VERSION, stages=stages, schedule=(CallSpec("encode"), CallSpec("act")),
             action_output="action", action_shape=("batch", 16)).write(folder)
    return folder


@pytest.fixture
def counted_backend(monkeypatch):
    """ort-cpu under another name, counting the stage calls it serves."""
    from deployprof.backends import BACKENDS

    calls = {"run": 0}
    base = BACKENDS.get("ort-cpu")

    class Counted(base):
        name = "counted-cpu"

        def _run(self, feeds):
            calls["run"] += 1
            return super()._run(feeds)

    monkeypatch.setitem(BACKENDS._items, "counted-cpu", Counted)
    return calls


def test_plan_prepare_measure_assemble_on_a_two_stage_graph(two_stage, counted_backend, tmp_path):
    config = MeasureConfig(iterations=5, warmup_iterations=1, warmup_min_s=0.0, launcher="inline", telemetry=False,
                           layer_profile=False)
    said = []
    plan = plan_profile(str(two_stage), ["counted-cpu"], Settings(config, accuracy=AccuracyConfig(samples=2)), say=said.append)
    assert plan.backends.names == ("counted-cpu",) and not plan.exported and plan.precisions == ("fp32",)

    warnings = Warnings(said.append)
    prep = prepare(plan, tmp_path / "run", warnings, said.append)
    assert prep.base.manifest.has_policy_step and set(prep.subjects) == {"fp32"}
    runs, cost = measure_prepared(plan, prep, warnings, said.append)
    assert not warnings and counted_backend["run"] > 0   # the registered backend served the runs, in this process
    assert sorted(r.stage for r in runs) == sorted(["encode", "act", POLICY_STEP])
    assert cost.flops["act"].flops_total == 2 * 16 * 16 and cost.step_flops == sum(
        cost.flops[s].flops_total for s in ("encode", "act"))
    step = next(r for r in runs if r.stage == POLICY_STEP)
    assert step.backend == "counted-cpu" and step.accuracy is not None and step.accuracy.verdict == "PASS"
    assert len(step.latency.samples_ms) == 5


def test_profile_announces_the_phases_it_planned_and_writes_the_assembled_report(two_stage, counted_backend, tmp_path):
    config = MeasureConfig(iterations=5, warmup_iterations=1, warmup_min_s=0.0, launcher="inline", telemetry=False,
                           layer_profile=False)
    plan = plan_profile(str(two_stage), ["counted-cpu"], Settings(config, accuracy=AccuracyConfig(samples=2)))
    said, planned = [], []
    report = profile(plan, tmp_path / "run", say=said.append, phases=planned.append)
    assert planned == [len(said)], said   # the progress bar's length is the phases said, no more, no fewer
    assert (tmp_path / "run" / "report.json").is_file()
    step = next(r for r in report.runs if r.stage == POLICY_STEP)
    assert step.flops_per_run == report.policy_step_flops > 0 and step.achieved_gflop_per_s > 0


@pytest.mark.parametrize("subject", ["out/nope/export", "m.onnx"])
def test_a_missing_path_is_a_missing_model_to_profile_as_to_bench(subject, tmp_path, monkeypatch):
    """One rule for "is this a preset?" (pipeline.needs_export): profile once called `out/nope/export` an unknown
    preset and listed the presets, where bench said the model is missing."""
    from deployprof.errors import ModelError
    from deployprof.pipeline import bench, needs_export

    monkeypatch.chdir(tmp_path)
    assert not needs_export(subject) and needs_export("tiny-vla")
    with pytest.raises(ModelError, match="not found") as planned:
        plan_profile(subject, ["ort-cpu"])
    with pytest.raises(ModelError) as benched:
        bench(subject, "ort-cpu")
    assert str(planned.value) == str(benched.value) and "preset" not in str(planned.value).split("(")[0]


def test_each_stage_is_counted_once_node_by_node_and_the_runs_join_with_that(two_stage, counted_backend, tmp_path,
                                                                             monkeypatch):
    """The parent counts each stage's nodes once (breakdown.stage_cost); the layer-time pass of every run joins with
    them instead of counting the graph again in each measuring process."""
    from deployprof import runner
    from deployprof.manifest import load_subject
    from deployprof.pipeline import static_cost
    from deployprof.runner import RunSpec
    from deployprof.serial import from_dict, to_dict

    subject = load_subject(two_stage)
    by_node, by_stage = static_cost(subject, 1, {}, per_node=True), static_cost(subject, 1, {})
    assert by_node.flops == by_stage.flops and by_node.step_flops == by_stage.step_flops   # the same counts
    assert set(by_node.nodes) == {"encode", "act"}
    assert sum(n.flops for n in by_node.nodes["act"].values()) == by_stage.flops["act"].flops_total == 2 * 16 * 16
    spec = RunSpec(str(two_stage), "counted-cpu", static=by_node.nodes)
    assert from_dict(RunSpec, to_dict(spec)) == spec   # what a measuring process is handed, whole

    def counted_again(*a, **k):
        raise AssertionError("a measuring process counted a stage again")

    monkeypatch.setattr(runner, "static_nodes", counted_again)
    config = MeasureConfig(iterations=5, warmup_iterations=1, warmup_min_s=0.0, launcher="inline", telemetry=False)
    plan = plan_profile(str(two_stage), ["counted-cpu"], Settings(config, accuracy=AccuracyConfig(samples=0)))
    warnings = Warnings()
    runs, _ = measure_prepared(plan, prepare(plan, tmp_path / "run", warnings, lambda s: None), warnings, lambda s: None)
    assert {r.stage for r in runs if r.breakdown is not None} == {"encode", "act"}
