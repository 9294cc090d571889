import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployprof.errors import ModelError
from deployprof.flops import analyze_model


def external_model(tmp_path, location="w.data"):
    w = numpy_helper.from_array(np.ones((256, 256), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.data", size_threshold=0)
    if location != "w.data":
        m = onnx.load(str(path), load_external_data=False)
        for e in m.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = location
        onnx.save(m, path)
    return path


def test_counts_without_the_external_data_file(tmp_path):
    path = external_model(tmp_path)
    (tmp_path / "w.data").unlink()
    r = analyze_model(path)
    assert r.macs == 4 * 256 * 256 and r.params == 65536 and r.weight_bytes == 4 * 65536


@pytest.mark.parametrize("location", ["/etc/passwd", "../../secret.bin", "sub/../../x.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    with pytest.raises(ModelError, match="outside"):
        analyze_model(external_model(tmp_path, location))


def test_external_data_through_a_link_that_leaves_the_folder_is_refused(tmp_path):
    """A relative name passes a string check; the link it names does not pass resolution."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 16)
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "w.bin").symlink_to(outside / "w.bin")
    with pytest.raises(ModelError, match="resolves to .*outside"):
        analyze_model(external_model(model_dir, "w.bin"))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        analyze_model(tmp_path / "nope.onnx")
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(ModelError):
        analyze_model(tmp_path / "e.onnx")


def test_local_functions_are_inlined(tmp_path):
    fn = helper.make_function("local", "TwoMatMul", ["a", "b"], ["c"],
                              [helper.make_node("MatMul", ["a", "b"], ["t"]), helper.make_node("MatMul", ["t", "b"], ["c"])],
                              [helper.make_opsetid("", 18)])
    graph = helper.make_graph([helper.make_node("TwoMatMul", ["x", "w"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 16]),
                               helper.make_tensor_value_info("w", TensorProto.FLOAT, [16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("local", 1)])
    path = tmp_path / "f.onnx"
    onnx.save(model, path)
    r = analyze_model(path)
    assert r.macs == 2 * 8 * 16 * 16 and not r.unknown_ops
