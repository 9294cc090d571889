"""Malformed files (ONNX, manifests, reports, specs, archives) and documented features: one line, never a
traceback."""
from __future__ import annotations

import numpy as np
from onnx import helper

from .sandbox import Case, F, Sandbox, manifest_edit, set_field, sweep_args


def dangling(sb: Sandbox) -> list[str]:
    return ["flops", str(sb.model("d.onnx", [helper.make_node("Relu", ["ghost"], ["y"])],
                                  [helper.make_tensor_value_info("x", F, [4])], [helper.make_tensor_value_info("y", F, None)]))]


def cyclic(sb: Sandbox) -> list[str]:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])]
    return ["flops", str(sb.model("cy.onnx", nodes, [helper.make_tensor_value_info("x", F, [4])],
                                  [helper.make_tensor_value_info("b", F, None)]))]


def negative_dim(sb: Sandbox) -> list[str]:
    return ["flops", str(sb.matmul("neg.onnx", (-4, 8)))]


def binary_manifest(sb: Sandbox) -> list[str]:
    exp = sb.export()
    (exp / "manifest.json").write_bytes(bytes(range(256)) * 4)
    return ["flops", str(exp)]


def manifest_list(sb: Sandbox) -> list[str]:
    exp = sb.export()
    (exp / "manifest.json").write_text("[1, 2]")
    return ["flops", str(exp)]


def interrupted_report(sb: Sandbox) -> list[str]:
    rep = sb.report()
    (rep / "INCOMPLETE").write_text("deployprof profile started 2026-01-01T00:00:00+00:00 and has not completed\n")
    return ["report", str(rep)]


def _pickle_npz(sb: Sandbox) -> list[str]:
    np.save(sb.inp / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile
    with zipfile.ZipFile(sb.inp / "obj.npz", "w") as z:
        z.write(sb.inp / "obj.npy", "x.npy")
    return ["bench", str(sb.matmul()), "--inputs", str(sb.inp / "obj.npz"), "--iterations", "1", "--in-process"]


def _spec_and_report(spec_text):
    def make(sb: Sandbox) -> list[str]:
        spec = sb.write("spec.yaml", spec_text)
        return ["qualify", "--spec", str(spec), str(sb.report())]
    return make


def _shapes_only(sb: Sandbox) -> list[str]:
    exp = sb.export()
    sb.edit_manifest(exp, set_field("static_only", True))
    return ["profile", str(exp), "--out", str(sb.out / "p"), "--iterations", "5", "--in-process"]


CASES: list[Case] = [
    Case("manifest-binary", "a binary manifest.json is one error line", binary_manifest, message="manifest"),
    Case("manifest-json-list", "a manifest that is a JSON list is refused", manifest_list, message="not a deployprof manifest"),
    Case("manifest-unknown-dtype", "a tensor dtype deployprof cannot make is refused",
         manifest_edit(set_field("stages.0.inputs.0.dtype", "complex128"), "flops"), message="dtype"),
    Case("manifest-unknown-stage", "a schedule naming a stage that does not exist is refused",
         manifest_edit(set_field("schedule.0.stage", "ghost"), "flops"), message="ghost"),
    Case("manifest-negative-dim", "a negative tensor dimension in a manifest is refused",
         manifest_edit(set_field("stages.0.inputs.0.shape.1", -3)), message="dimension"),
    Case("manifest-bad-default-dims", "default_dims that are not positive integers are refused",
         manifest_edit(set_field("default_dims.kv_len", -1), "flops"), message="default_dims"),
    Case("onnx-corrupt", "random bytes as a model are one error line",
         lambda sb: ["flops", str(sb.write("junk.onnx", b"\x00\xffnot onnx" * 50))], message="not a readable ONNX"),
    Case("onnx-dangling-input", "a node reading a value nothing produces is refused, not counted as exact", dangling,
         message="dangling"),
    Case("onnx-cycle", "a cyclic graph is refused", cyclic, message="cycle"),
    Case("onnx-opset-99", "opset 99 is refused with the newest this onnx knows",
         lambda sb: ["flops", str(sb.model("o.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                                           [helper.make_tensor_value_info("x", F, [4])],
                                           [helper.make_tensor_value_info("y", F, None)], opset=99))], message="opset 99"),
    Case("onnx-negative-dim", "a negative declared dimension is refused, not counted as negative MACs", negative_dim,
         message="negative"),
    Case("onnx-negative-dim-strict", "the same under --strict",
         lambda sb: ["flops", str(sb.matmul("neg.onnx", (-4, 8))), "--strict"], message="negative"),
    Case("compare-unrelated-json", "`compare` with a JSON that is not a report is one error line",
         lambda sb: ["compare", str(sb.report()), str(sb.write("u.json", '{"hello": 1}'))], message="not a deployprof report"),
    Case("report-missing-fields", "`report` of a report.json with fields missing is one error line",
         lambda sb: ["report", str(sb.write("r.json", '{"schema_version": 1, "runs": []}'))], message="not a complete"),
    Case("report-json-list", "a report.json that is a JSON list is refused",
         lambda sb: ["report", str(sb.write("l.json", "[]"))], message="not a deployprof report"),
    Case("report-interrupted", "a folder an interrupted run left (INCOMPLETE marker) is not read as a result",
         interrupted_report, message="interrupted run"),
    Case("spec-binary", "a binary spec is one error line", _spec_and_report(bytes(range(256)) * 4), message="spec"),
    Case("spec-nan-limit", "a spec limit `.nan` is refused", _spec_and_report("latency_ms: {p99: .nan}\n"),
         message="must be a number"),
    Case("spec-python-tag", "a YAML python tag is not executed (safe_load): one error line",
         _spec_and_report("latency_ms: !!python/object/apply:os.system ['touch pwned']\n"), message="YAML"),
    Case("npz-pickled-objects", "an .npz holding pickled objects is refused, never unpickled", _pickle_npz,
         message="--inputs"),
    Case("calibration-bad-npz", "a bad --calibration file is reported as --calibration",
         lambda sb: ["compare-precision", str(sb.export()), "--precisions", "int8", "--calibration",
                     str(sb.write("bad.npz", b"not a zip"))], message="^error: --calibration"),
    Case("preset-yaml-binary", "a binary preset YAML is one error line",
         lambda sb: ["profile", str(sb.write("p.yaml", bytes(range(256)) * 4)), "--out", str(sb.out / "p")],
         message="preset YAML"),
    Case("sweep-measure-dim", "a sweep with the documented `measure: {dim: ...}` is read (not an internal error)",
         sweep_args("subjects: [tiny-vla]\nmeasure: {dim: {past: 4}, threads: 1}\n", "--dry-run"), code=0,
         message="1 configuration"),
    Case("sweep-provider-option", "a sweep with the documented `measure: {provider_option: ...}` is read",
         sweep_args("subjects: [tiny-vla]\nmeasure: {provider_option: {arena_extend_strategy: kSameAsRequested}}\n",
                "--dry-run"), code=0, message="1 configuration"),
    Case("profile-shapes-only-export", "`profile` of a shapes-only export counts it and says it has no weights to run",
         _shapes_only, code=0, message="shapes-only export"),
]
