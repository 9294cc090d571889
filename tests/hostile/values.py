"""Bad values in options, specs and files: one `error:` line naming the value and what is expected."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from onnx import helper, numpy_helper

from .sandbox import BIG_INT, Case, F, Sandbox, export_args, loop_model, manifest_edit, set_field, sweep_args


def _npz(arrays: dict, model_shape=(4, 8)):
    def make(sb: Sandbox) -> list[str]:
        np.savez(sb.inp / "in.npz", **arrays)
        return ["bench", str(sb.matmul("m.onnx", model_shape)), "--inputs", str(sb.inp / "in.npz"), "--iterations", "1",
                "--in-process"]
    return make


def _if_without_branch(sb: Sandbox) -> list[str]:
    c = numpy_helper.from_array(np.array(True), "c")
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "t", [], [helper.make_tensor_value_info("t", F, [4])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then)
    return ["flops", str(sb.model("if.onnx", [node], [helper.make_tensor_value_info("x", F, [4])],
                                  [helper.make_tensor_value_info("y", F, None)], [c]))]


def _deep_json(sb: Sandbox) -> list[str]:
    return ["compare", str(sb.report()), str(sb.write("deep.json", "[" * 100000 + "]" * 100000))]


def _non_utf8_path(sb: Sandbox) -> list[str]:
    folder = Path(os.fsdecode(bytes(sb.inp) + b"/caf\xe9"))
    folder.mkdir()
    path = sb.matmul()
    target = Path(os.fsdecode(bytes(folder) + b"/m.onnx"))
    target.write_bytes(path.read_bytes())
    return ["flops", os.fsdecode(bytes(target)), "--json"]


def _scan(attrs: dict):
    """A Scan over a [3, 4] sequence with malformed attributes."""
    def make(sb: Sandbox) -> list[str]:
        body = helper.make_graph([helper.make_node("Add", ["s", "x"], ["s2"]), helper.make_node("Identity", ["s2"], ["y"])],
                                 "b", [helper.make_tensor_value_info("s", F, [4]), helper.make_tensor_value_info("x", F, [4])],
                                 [helper.make_tensor_value_info("s2", F, [4]), helper.make_tensor_value_info("y", F, [4])])
        return ["flops", str(sb.model("scan.onnx", [helper.make_node("Scan", ["init", "seq"], ["final", "ys"], body=body, **attrs)],
                                      [helper.make_tensor_value_info("init", F, [4]), helper.make_tensor_value_info("seq", F, [3, 4])],
                                      [helper.make_tensor_value_info("final", F, None), helper.make_tensor_value_info("ys", F, None)]))]
    return make


def _input(field: str, value):
    def edit(m):
        m["stages"][0]["inputs"][0][field] = value
    return edit


def _export_under_a_file(sb: Sandbox) -> list[str]:
    (sb.out / "afile").write_text("mine")
    return ["export", "tiny-vla", "--out", str(sb.out / "afile" / "sub")]


def _non_utf8_bench(sb: Sandbox) -> list[str]:
    return ["bench", _non_utf8_path(sb)[1], "--iterations", "2", "--in-process", "--no-store"]


def _max_time_zero(sb: Sandbox) -> list[str]:
    return ["precision-debug", str(sb.export()), "--precision", "int8", "--samples", "1", "--max-time", "0",
            "--out", str(sb.out / "d"), "--json"]


def _two_evaluations(sb: Sandbox, stdout: str) -> None:
    import json

    doc = json.loads(stdout)
    assert doc["evaluations"] <= 2 and ("already passes" in doc["note"] or "budget spent" in doc["note"]
                                        or "cannot be rescued" in doc["note"]), (doc["evaluations"], doc["note"])


CASES: list[Case] = [
    Case("provider-option-unknown", "an unknown --provider-option key is refused, never ignored",
         lambda sb: ["bench", str(sb.matmul()), "--provider-option", "no_such_key=1", "--iterations", "1"],
         message="no_such_key"),
    Case("threads-negative", "`--threads -1` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--threads", "-1"], code=2),
    Case("duration-nan", "`--duration nan` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--duration", "nan"], code=2),
    Case("rate-zero", "`--rate 0` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--rate", "0"], code=2),
    Case("predict-negative-batch", "`predict --batch -4` is a usage error",
         lambda sb: ["predict", str(sb.export()), "--target", "h100-sxm", "--batch", "-4"], code=2),
    Case("samples-zero", "`compare-precision --samples 0` is a usage error",
         export_args("compare-precision", "--precisions", "fp16", "--samples", "0"), code=2),
    Case("dim-negative", "`--dim batch=-3` is one error line",
         lambda sb: ["flops", str(sb.matmul()), "--dim", "batch=-3"], message="--dim"),
    Case("export-preset-and-module", "`export` with a preset and --module is a usage error",
         lambda sb: ["export", "tiny-vla", "--module", "x:y", "--out", str(sb.out / "e")], code=2),
    Case("export-neither", "`export` with neither is a usage error",
         lambda sb: ["export", "--out", str(sb.out / "e")], code=2),
    Case("reference-not-fp32", "`--reference ort-cpu:fp16` is refused: the reference is FP32 by definition",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.out / "r"), "--reference", "ort-cpu:fp16"],
         message="--reference expects BACKEND:fp32"),
    Case("reference-unknown-backend", "`--reference nope:fp32` names the known backends",
         export_args("compare-precision", "--precisions", "fp16", "--reference", "nope:fp32"), message="unknown backend 'nope'"),
    Case("cuda-graph-on-cpu-only", "`--cuda-graph on` with only CPU backends is one error line, before --out is made",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.out / "g"), "--cuda-graph", "on"],
         message="--cuda-graph on: ort-cpu: no CUDA graph"),
    Case("max-duration-zero", "`--max-duration 0` is a usage error",
         lambda sb: ["bench", str(sb.matmul()), "--max-duration", "0"], code=2),
    Case("precision-debug-int8-dynamic", "`precision-debug --precision int8-dynamic` is a usage error (int8 or fp16)",
         lambda sb: ["precision-debug", str(sb.export()), "--precision", "int8-dynamic", "--out", str(sb.out / "d")],
         code=2),
    Case("precision-debug-out-is-a-file", "`precision-debug --out FILE` is one error line; the file is left as it was",
         lambda sb: (sb.out.mkdir(parents=True, exist_ok=True), (sb.out / "f").write_text("mine"),
                     ["precision-debug", str(sb.export()), "--precision", "fp16", "--out", str(sb.out / "f")])[-1],
         message="is a file; expected a folder",
         check=lambda sb, _: None if (sb.out / "f").read_text() == "mine" else (_ for _ in ()).throw(
             AssertionError("precision-debug wrote into the file given as --out"))),
    Case("npz-wrong-dtype", "an .npz input of the wrong dtype names the input and the dtype expected",
         _npz({"x": np.ones((4, 8), np.int64)}), message="x.*float32"),
    Case("npz-wrong-shape", "an .npz input of the wrong shape names the input and the shape expected",
         _npz({"x": np.ones((3, 3), np.float32)}), message="x.*shape"),
    Case("npz-string-kind", "an .npz input of strings is refused naming it",
         _npz({"x": np.array(["a", "b"])}), message="x"),
    Case("npz-extra-key", "an .npz with a key the graph has no input for is refused, not ignored",
         _npz({"x": np.ones((4, 8), np.float32), "typo": np.ones(2, np.float32)}), message="typo"),
    Case("manifest-range-1e30", "a manifest input range bound of 10^30 is refused",
         manifest_edit(set_field("stages.1.inputs.1.high", 10**30)), message="prompt_ids"),
    Case("manifest-range-low-above-high", "a manifest input range whose low is above its high is refused",
         manifest_edit(set_field("stages.0.inputs.0.low", 5)), message="images"),
    Case("manifest-range-nan", "a NaN in a manifest input range is refused",
         lambda sb: ["bench", str((lambda e: ((e / "manifest.json").write_text(
             (e / "manifest.json").read_text().replace('"low": -1.0', '"low": NaN', 1)), e)[1])(sb.export())),
             "--iterations", "2", "--in-process"], message="images"),
    Case("manifest-loop-tensor-missing", "a loop whose state tensor the graph lacks is refused, naming it",
         manifest_edit(set_field("schedule.2.loop.state", "ghost_token"), "flops"), message="ghost_token"),
    Case("manifest-action-tensor-missing", "a loop whose result tensor the graph lacks is refused, naming it",
         manifest_edit(set_field("schedule.2.loop.output", "ghost_logits"), "flops"), message="ghost_logits"),
    Case("onnx-loop-no-body", "a Loop without a body is one error line", loop_model(np.array(3, np.int64), body=False),
         message="body"),
    Case("onnx-if-no-branch", "an If without its else branch is one error line", _if_without_branch, message="branch"),
    Case("onnx-loop-string-trip", "a Loop whose trip count is a string is one error line", loop_model(b"three"),
         message="trip count"),
    Case("onnx-loop-empty-trip", "a Loop whose trip count is an empty tensor is one error line",
         loop_model(np.array([], np.int64)), message="trip count"),
    Case("compare-deep-json", "`compare` of a JSON nested 100,000 deep is one error line", _deep_json, message="report"),
    Case("option-huge-int", "`--iterations` of 5,000 digits is a usage error",
         lambda sb: ["bench", str(sb.matmul()), "--iterations", BIG_INT], code=2),
    Case("spec-huge-int", "a spec limit of 5,000 digits is one error line",
         lambda sb: ["qualify", "--spec", str(sb.write("spec.yaml", f"latency_ms: {{p99: {BIG_INT}}}\n")), str(sb.report())],
         message="spec"),
    Case("idle-gaps-nan", "`--idle-gaps nan` is one error line",
         lambda sb: ["bench", str(sb.matmul()), "--rate", "10", "--idle-gaps", "nan"], message="--idle-gaps"),
    Case("idle-gaps-without-rate", "`--idle-gaps` without `--rate` is an error, not ignored",
         lambda sb: ["bench", str(sb.matmul()), "--idle-gaps", "0.5"], message="--idle-gaps .*--rate"),
    Case("model-path-non-utf8", "a model path with a non-UTF-8 byte simply works", _non_utf8_path, code=0,
         message='"macs"'),
    # round 3: values that still reached an internal error
    Case("scan-num-scan-inputs-too-many", "a Scan whose num_scan_inputs exceeds its inputs is one line naming it",
         _scan({"num_scan_inputs": 5}), message="num_scan_inputs 5"),
    Case("scan-num-scan-inputs-missing", "a Scan without num_scan_inputs is one line", _scan({}),
         message="num_scan_inputs None"),
    Case("scan-axis-out-of-range", "a Scan whose scan_input_axes is outside its input's rank is one line",
         _scan({"num_scan_inputs": 1, "scan_input_axes": [7]}), message="scan_input_axes"),
    Case("manifest-input-dtype-mismatch", "a manifest input whose dtype differs from the graph's is one line naming "
         "both (once ONNX Runtime's INVALID_ARGUMENT mid-run)", manifest_edit(_input("dtype", "int64")),
         message="the manifest and the graph disagree"),
    Case("manifest-input-rank-mismatch", "a manifest input whose rank differs from the graph's is one line",
         manifest_edit(_input("shape", [1, 999])), message="the manifest and the graph disagree"),
    Case("manifest-action-output-unknown", "a manifest action_output that no stage or loop produces is one line",
         manifest_edit(set_field("action_output", "ghost")), message="action_output 'ghost'"),
    Case("manifest-partial-info-wrong-type", "precision_info of the wrong type is refused when the export is read, "
         "not after measuring", manifest_edit(set_field("precision_info", {"stages_quantized_at_compute_ops_only": [1]})),
         message="stages_quantized_at_compute_ops_only"),
    Case("sweep-rate-1e-9", "a sweep `rate: 1e-9` (a run of years) is refused before work (once it never ended)",
         lambda sb: [*sweep_args("subjects: [tiny-vla]\nbackends: [ort-cpu]\nmeasure: {rate: 1.0e-9, iterations: 3}\n")(sb),
                     "--store", str(sb.out / "s.sqlite")], message="--rate 1e-09 Hz"),
    Case("columns-abc", "`COLUMNS=abc` is ignored (once an internal error)",
         lambda sb: ["flops", str(sb.matmul())], code=0, message="MACs|FLOPs", env={"COLUMNS": "abc"}),
    Case("model-path-non-utf8-bench", "a model path with a non-UTF-8 byte is one line where ONNX Runtime cannot open it",
         _non_utf8_bench, message="UTF-8"),
    Case("export-out-under-a-file", "`export --out FILE/sub` is one line naming the file", _export_under_a_file,
         message="afile is a file"),
    Case("precision-debug-max-time-zero", "`precision-debug --max-time 0` makes only the two evaluations every search "
         "needs (once: no limit); exit 3, nothing passed", _max_time_zero, code=3, check=_two_evaluations),
    Case("profile-torch-on-a-plain-graph", "`profile m.onnx --backends ort-cpu,torch` is refused before any work: a "
         "plain graph has no PyTorch module (once found after the reference pass)",
         lambda sb: ["profile", str(sb.matmul()), "--backends", "ort-cpu,torch", "--out", str(sb.out / "p")],
         message="no PyTorch module to run"),
    Case("bench-string-input", "`bench` of a graph with a string input says to pass --inputs (counting it needs none)",
         lambda sb: ["bench", str(sb.model("s.onnx", [helper.make_node("Identity", ["s"], ["t"])],
                                           [helper.make_tensor_value_info("s", 8, [1])],
                                           [helper.make_tensor_value_info("t", 8, [1])])), "--iterations", "2"],
         message="element type string, which deployprof cannot generate; pass --inputs"),
]
