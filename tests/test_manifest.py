"""A stage graph's identity (graph_sha256): its file and the external weights it names."""
import numpy as np
import pytest

from deployprof.errors import ModelError
from deployprof.manifest import graph_sha256, sha256_file


def _save(path, weights, external: bool):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="/m/MatMul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
                              [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(graph), str(path), save_as_external_data=external, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)


def test_new_external_weights_under_the_same_graph_file_are_another_graph(tmp_path):
    w = np.ones((64, 64), np.float32)
    _save(tmp_path / "g.onnx", w, external=True)
    graph_bytes, first = (tmp_path / "g.onnx").read_bytes(), graph_sha256(tmp_path / "g.onnx")
    (tmp_path / "weights.bin").unlink()  # onnx appends to an existing data file
    _save(tmp_path / "g.onnx", w * 2, external=True)
    assert (tmp_path / "g.onnx").read_bytes() == graph_bytes          # the .onnx alone cannot tell them apart
    assert graph_sha256(tmp_path / "g.onnx") != first
    _save(tmp_path / "e.onnx", w, external=False)
    assert graph_sha256(tmp_path / "e.onnx") == sha256_file(tmp_path / "e.onnx")


def test_external_data_outside_the_folder_is_refused(tmp_path):
    import onnx

    _save(tmp_path / "g.onnx", np.ones((64, 64), np.float32), external=True)
    model = onnx.load(str(tmp_path / "g.onnx"), load_external_data=False)
    for e in model.graph.initializer[0].external_data:
        if e.key == "location":
            e.value = "../outside.bin"
    onnx.save(model, str(tmp_path / "g.onnx"))
    with pytest.raises(ModelError, match="outside"):
        graph_sha256(tmp_path / "g.onnx")


def _one_stage_export(folder, repeat: int):
    """A one-graph export (MatMul 1x64 @ 64x64) whose schedule calls it `repeat` times a policy step."""
    from deployprof.manifest import MANIFEST_VERSION, CallSpec, Manifest, StageSpec, TensorSpec

    folder.mkdir()
    _save(folder / "m.onnx", np.ones((64, 64), np.float32), external=False)
    stage = StageSpec(name="m", file="m.onnx", inputs=(TensorSpec("x", "float32", (1, 64)),),
                      outputs=(TensorSpec("y", "float32", (1, 64)),), calls_per_step=repeat)
    Manifest(schema_version=MANIFEST_VERSION, stages=(stage,), schedule=(CallSpec("m", repeat=repeat),)).write(folder)
    return folder


def test_one_graph_called_three_times_is_a_policy_step_in_timing_and_counting(tmp_path):
    """Once decided in five places under two rules: a one-stage export with `repeat: 3` was timed as a policy step
    with no FLOPs. Now Manifest.has_policy_step decides it for the runner and the static cost alike."""
    from deployprof.config import MeasureConfig
    from deployprof.manifest import load_subject
    from deployprof.pipeline import static_cost
    from deployprof.results import POLICY_STEP
    from deployprof.runner import RunSpec, run_backend

    once, thrice = (load_subject(_one_stage_export(tmp_path / f"r{n}", n)) for n in (1, 3))
    assert not once.manifest.has_policy_step and thrice.manifest.has_policy_step
    assert static_cost(once, 1, {}).step_flops is None
    cost = static_cost(thrice, 1, {})
    assert cost.step_flops == 3 * cost.flops["m"].flops_total == 3 * 2 * 64 * 64
    config = MeasureConfig(iterations=3, warmup_iterations=1, warmup_min_s=0.0, telemetry=False)
    assert [r.stage for r in run_backend(RunSpec(subject=thrice.path, backend="ort-cpu", config=config))] == ["m", POLICY_STEP]
    assert [r.stage for r in run_backend(RunSpec(subject=once.path, backend="ort-cpu", config=config))] == ["m"]
