"""`export --module` on code as users write it: a batch the model's code fixes is either kept dynamic by the other
exporter or exported static and said so (terminal and manifest); odd outputs and a failing forward are one line."""
import json

import pytest

from .conftest import invoke


pytest.importorskip("torch")


def _export(tmp_path, factory, name="o"):
    out = tmp_path / name
    r = invoke(["export", "--module", f"tests.data.awkward_policies:{factory}", "--out", str(out)])
    return r, out


def test_a_fixed_batch_falls_back_to_the_other_exporter_and_says_so(tmp_path):
    r, out = _export(tmp_path, "branch_on_batch")
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["exporter"] == "torchscript" and m["stages"][0]["inputs"][0]["shape"] == ["batch", 8]
    assert "note: exported with torchscript (dynamo: ExportError: it fixed the batch" in r.output
    assert m["notes"] and "fixed the batch" in m["notes"][0]
    r = invoke(["bench", str(out), "--iterations", "5", "--batch", "1,3", "--in-process"])
    assert r.exit_code == 0, r.output


def test_a_batch_no_exporter_keeps_dynamic_is_exported_static_and_refuses_other_batches(tmp_path):
    r, out = _export(tmp_path, "batch_from_int")
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["stages"][0]["inputs"][0]["shape"] == [1, 8] and m["stages"][0]["parity_max_abs_err"] is not None
    assert "note: batch: fixed at 1 by the model's code; the graph takes batch 1 only" in r.output
    assert "torchscript: ExportError: stage model: output output_0 has shape (1, 4) in ONNX Runtime, (2, 4)" in r.output
    r = invoke(["bench", str(out), "--iterations", "5", "--in-process"])
    assert r.exit_code == 0, r.output
    r = invoke(["bench", str(out), "--iterations", "5", "--batch", "2", "--in-process"])
    assert r.exit_code == 1 and "error: --batch 2: the graph's inputs have no `batch` axis (obs [1, 8])" in r.output


def test_named_outputs_keep_their_names(tmp_path):
    r, out = _export(tmp_path, "named_outputs")
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert [o["name"] for o in m["stages"][0]["outputs"]] == ["actions", "value"] and m["action_output"] == "actions"


@pytest.mark.parametrize("factory,match", [
    ("broken", "the module's forward raised RuntimeError: forward is broken on the example inputs"),
    ("returns_number", "forward must return a tensor, a tuple of tensors or a dict of name -> tensor; it returned int"),
    ("no_onnx_function", "No ONNX function found for <OpOverload(op='prims.bessel_j0'"),   # the cause, not "Next steps:"
])
def test_a_failing_or_odd_module_is_one_line(tmp_path, factory, match):
    r, out = _export(tmp_path, factory)
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and match in lines[0], r.output
    assert not out.exists()
