"""Every command's --json and report.json: one envelope, validated against the published docs/schema.json."""
import json

import pytest

from deployprof.results import DOCUMENTS, SCHEMA_VERSION, json_schema

from .conftest import FAST, invoke
from .schema import SCHEMA, validate



def _json(*args) -> dict:
    res = invoke([str(a) for a in args])
    assert res.exit_code in (0, 3), res.output
    return json.loads(res.stdout)


def test_the_published_schema_is_the_one_the_code_writes():
    """Regenerate with `python -m deployprof.results > docs/schema.json` after changing a result dataclass."""
    assert json.loads(SCHEMA.read_text()) == json_schema()


def _sweep(export, tmp_path) -> dict:
    import shutil

    shutil.copytree(export, tmp_path / "export")
    path = tmp_path / "s.yaml"
    path.write_text("subjects: [export]\nbackends: [ort-cpu, {name: ort-cpu, measure: {dim: {nope: 2}}}]\n"
                    "measure: {iterations: 5, accuracy_samples: 0, in_process: true}\n")
    res = invoke(["sweep", str(path), "--out", str(tmp_path / "sweep"), "--json"])
    assert res.exit_code == 1, res.output  # one configuration failed: written, and said by the exit code
    return json.loads(res.stdout)


def test_every_json_output_validates(tiny_export, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("latency_ms: {p99: 1000}\n")
    profile = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "r"), *FAST])
    assert profile.exit_code == 0, profile.output
    docs = {
        "report.json": json.loads((tmp_path / "r" / "report.json").read_text()),
        "flops file": _json("flops", tiny_export / "vision.onnx", "--json"),
        "flops folder": _json("flops", tiny_export, "--json", "--per-node"),
        "bench": _json("bench", tiny_export, "--json", *FAST),
        "compare-precision": _json("compare-precision", tiny_export, "--precisions", "fp16", "--samples", "2", "--json"),
        "compare": _json("compare", tmp_path / "r", tmp_path / "r", "--json"),
        "predict": _json("predict", tiny_export, "--target", "h100-sxm", "--json"),
        "qualify report": _json("qualify", tmp_path / "r", "--spec", spec, "--json"),
        "qualify export": _json("qualify", tiny_export, "--spec", spec, "--target", "h100-sxm", "--json"),
        "history": _json("history", "--json"),
        "sweep": _sweep(tiny_export, tmp_path),
        "doctor": _json("doctor", "--json"),
        "precision-debug": _json("precision-debug", tiny_export, "--precision", "fp16", "--samples", "2",
                                 "--out", tmp_path / "debug", "--json"),
    }
    for what, doc in docs.items():
        assert doc["schema_version"] == SCHEMA_VERSION, what
        validate(doc)
    assert {d["kind"] for d in docs.values()} == set(DOCUMENTS)


def test_a_document_that_breaks_the_schema_is_caught():
    doc = {"schema_version": SCHEMA_VERSION, "kind": "prediction", "subject": "x", "predictions": [{"target": 1}]}
    with pytest.raises(AssertionError, match="violates docs/schema.json"):
        validate(doc)
    with pytest.raises(AssertionError):
        validate({"schema_version": 1, "kind": "prediction", "subject": "x", "predictions": []})
