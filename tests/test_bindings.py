"""--dim and --shape are checked against the graph before any work: once silently ignored (`--dim bacth=2`,
`--shape image=...`) or an internal error from deep in ONNX Runtime (a wrong rank, --shape on an export folder)."""
import onnx
import pytest
from onnx import TensorProto, helper

from .conftest import FAST, invoke



@pytest.fixture
def dyn(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])), path)
    return path


def _error(*args):
    res = invoke([str(a) for a in args])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "internal error" not in res.output, res.output
    return res.output


QUICK = (*FAST, "--no-store")   # every bench here is about its bindings, not its numbers


def test_unknown_names_and_wrong_ranks_are_one_line_with_the_valid_names(tiny_export, dyn):
    assert "--dim bacth: no such dimension" in _error("bench", tiny_export, "--dim", "bacth=2", *QUICK)
    assert "its named dimensions are batch" in _error("flops", tiny_export, "--dim", "bacth=2")
    assert "export folder" in _error("bench", tiny_export, "--shape", "image=1x3x4x4", *QUICK)
    assert "--dim m: no such dimension in" in _error("flops", dyn, "--dim", "m=2")
    assert "--shape image: no such input; the inputs are x" in _error("bench", dyn, "--shape", "image=1x8", *QUICK)
    assert "has rank 3; the input is ['n', 8]" in _error("bench", dyn, "--shape", "x=1x8x2", *QUICK)
    assert "dimension 1 is fixed at 8" in _error("bench", dyn, "--shape", "x=2x9", *QUICK)
    res = invoke(["bench", str(dyn), "--shape", "x=2x8", *QUICK])
    assert res.exit_code == 0, res.output
