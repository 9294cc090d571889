"""The hostile-input corpus: exports, manifests, models, specs, reports and options from other people and other
machines, each with the behaviour deployprof owes it. tests/hostile/test_hostile.py runs every case through the
real CLI in its own process; docs/HOSTILE.md is this list as a table (a test keeps the two in step)."""
from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
HUGE = 10**12


@dataclass(frozen=True)
class Case:
    id: str
    expect: str                                   # the behaviour owed, as the docs table says it
    make: Callable[["Sandbox"], list[str]]        # builds the inputs, returns the deployprof arguments
    code: int = 1                                 # 1: one `error:` line; 2: a usage error; 0: handled correctly
    message: str = ""                             # a regex the error line (or stdout for code 0) must match
    max_rss_mib: Optional[int] = None             # peak memory bound where size is the attack
    check: Optional[Callable[["Sandbox", str], None]] = None   # further checks on the outcome (stdout given)


class Sandbox:
    """in/ holds the inputs (must not change), victim/ files a hostile input points at (must not change),
    out/ is where the command may write; HOME, TMPDIR and the cache are private to the case."""

    def __init__(self, root: Path, export: Path):
        self.root, self.export_src = root, export
        for d in ("in", "victim", "out", "home", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self.inp, self.victim, self.out = root / "in", root / "victim", root / "out"

    def export(self, name: str = "exp") -> Path:
        dst = self.inp / name
        shutil.copytree(self.export_src, dst)
        return dst

    def edit_manifest(self, folder: Path, edit: Callable[[dict], None]) -> Path:
        m = json.loads((folder / "manifest.json").read_text())
        edit(m)
        (folder / "manifest.json").write_text(json.dumps(m))
        return folder

    def model(self, name: str, nodes, inputs, outputs, inits=(), opset: int = 17) -> Path:
        g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        path = self.inp / name
        onnx.save(m, str(path))
        return path

    def matmul(self, name: str = "m.onnx", shape=(4, 8)) -> Path:
        w = numpy_helper.from_array(np.ones((shape[-1], 8), np.float32), "w")
        return self.model(name, [helper.make_node("MatMul", ["x", "w"], ["y"])],
                          [helper.make_tensor_value_info("x", F, list(shape))],
                          [helper.make_tensor_value_info("y", F, None)], [w])

    def external_model(self, location: str) -> Path:
        """A MatMul whose weight lives in external data at `location` (written as w.data, then renamed in the
        model), as a colleague's large export would be."""
        folder = self.inp / "ext"
        folder.mkdir()
        w = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
        g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", F, [4, 8])], [helper.make_tensor_value_info("y", F, None)], [w])
        path = folder / "m.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path),
                  save_as_external_data=True, location="w.data", size_threshold=0)
        m = onnx.load(str(path), load_external_data=False)
        for e in m.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = location
        onnx.save(m, str(path))
        return path

    def write(self, name: str, data) -> Path:
        path = self.inp / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
        return path

    def victim_onnx(self) -> Path:
        """A real stage graph outside the export, where a hostile manifest points."""
        (self.victim / "x").mkdir(exist_ok=True)
        shutil.copy(self.export_src / "vision.onnx", self.victim / "x" / "v.onnx")
        return self.victim / "x" / "v.onnx"

    def report(self) -> Path:
        """A real, complete report folder of the tiny export (written by the suite's fixture)."""
        dst = self.inp / "rep"
        shutil.copytree(self.export_src.parent / "report", dst)
        return dst


def _stage_file(value: str):
    def edit(m):
        m["stages"][0]["file"] = value
    return edit


def traversal(sb: Sandbox) -> list[str]:
    sb.victim_onnx()
    exp = sb.edit_manifest(sb.export(), _stage_file("./../../victim/x/v.onnx"))
    return ["bench", str(exp), "--iterations", "5", "--in-process"]


def traversal_fp16(sb: Sandbox) -> list[str]:
    """The reported reproduction: the FP16 variant was written next to the outside file, replacing it."""
    sb.victim_onnx()
    exp = sb.edit_manifest(sb.export(), _stage_file("./../../victim/x/v.onnx"))
    return ["profile", str(exp), "--out", str(sb.out / "p"), "--precisions", "fp16", "--iterations", "50"]


def absolute_stage(sb: Sandbox) -> list[str]:
    victim = sb.victim_onnx()
    return ["flops", str(sb.edit_manifest(sb.export(), _stage_file(str(victim))))]


def symlinked_stage(sb: Sandbox) -> list[str]:
    victim = sb.victim_onnx()
    exp = sb.export()
    (exp / "link.onnx").symlink_to(victim)
    return ["flops", str(sb.edit_manifest(exp, _stage_file("link.onnx")))]


def external_link(sb: Sandbox) -> list[str]:
    (sb.victim / "w.data").write_bytes(np.ones((8, 8), np.float32).tobytes())
    path = sb.external_model("w.data")
    (path.parent / "w.data").unlink()
    (path.parent / "w.data").symlink_to(sb.victim / "w.data")
    return ["flops", str(path)]


def calibration_link(sb: Sandbox) -> list[str]:
    exp = sb.export()
    calib = sb.inp / "calib"
    calib.mkdir()
    np.savez(sb.victim / "obs.npz", x=np.zeros(1))
    (calib / "obs.npz").symlink_to(sb.victim / "obs.npz")
    return ["compare-precision", str(exp), "--precisions", "int8", "--samples", "1", "--calibration", str(calib)]


def huge_vector(sb: Sandbox) -> list[str]:
    """89 bytes: a [10^12] input into Unsqueeze (ONNX's data propagation once took 7.7 GB on it)."""
    ax = numpy_helper.from_array(np.array([0], np.int64), "ax")
    return ["flops", str(sb.model("v.onnx", [helper.make_node("Unsqueeze", ["x", "ax"], ["y"])],
                                  [helper.make_tensor_value_info("x", TensorProto.INT64, [HUGE])],
                                  [helper.make_tensor_value_info("y", TensorProto.INT64, None)], [ax])), "--json"]


def constant_of_huge_shape(sb: Sandbox) -> list[str]:
    """Shape arithmetic that would create 10^12 elements if folding evaluated it."""
    s = numpy_helper.from_array(np.array([HUGE], np.int64), "s")
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
    return ["flops", str(sb.model("c.onnx", nodes, [helper.make_tensor_value_info("x", F, [1])],
                                  [helper.make_tensor_value_info("y", F, None)], [s])), "--json"]


def huge_declared_input(sb: Sandbox) -> list[str]:
    return ["bench", str(sb.matmul("big.onnx", (10**10, 8))), "--iterations", "1", "--in-process"]


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


def manifest_edit(edit: Callable[[dict], None], command: str = "bench"):
    def make(sb: Sandbox) -> list[str]:
        exp = sb.edit_manifest(sb.export(), edit)
        return [command, str(exp)] + (["--iterations", "2", "--in-process"] if command == "bench" else [])
    return make


def _set(path: str, value):
    def edit(m):
        *keys, last = path.split(".")
        node = m
        for k in keys:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(last) if isinstance(node, list) else last] = value
    return edit


def factory_module(body: str):
    """A user's policy module on PYTHONPATH (the sandbox's in/ folder) whose factory misbehaves."""
    def make(sb: Sandbox) -> list[str]:
        sb.write("hostile_policy.py", textwrap.dedent(body))
        return ["export", "--module", "hostile_policy:factory", "--out", str(sb.out / "e")]
    return make


def interrupted_report(sb: Sandbox) -> list[str]:
    rep = sb.report()
    (rep / "INCOMPLETE").write_text("deployprof profile started 2026-01-01T00:00:00+00:00 and has not completed\n")
    return ["report", str(rep)]


def export_into_non_empty(sb: Sandbox) -> list[str]:
    (sb.out / "mine").mkdir()
    (sb.out / "mine" / "notes.txt").write_text("the user's own files")
    return ["export", "tiny-vla", "--out", str(sb.out / "mine")]


def _unchanged_notes(sb: Sandbox, stdout: str) -> None:
    assert (sb.out / "mine" / "notes.txt").read_text() == "the user's own files"


def _huge_count(sb: Sandbox, stdout: str) -> None:
    d = json.loads(stdout)
    one = json.loads((sb.export_src.parent / "flops_batch1.json").read_text())
    assert d["macs"] == one["macs"] * HUGE and not d["lower_bound"]


def _no_variant_beside_victim(sb: Sandbox, stdout: str) -> None:
    assert not (sb.out / "p" / "report.json").exists()


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


def _exp(*args):
    return lambda sb: [args[0], str(sb.export()), *args[1:]]


def newer_store(sb: Sandbox) -> list[str]:
    import sqlite3

    path = sb.inp / "future.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE deployprof_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))")
        conn.execute("INSERT INTO deployprof_meta VALUES ('schema_version', '99')")
    return ["history", "--store", str(path)]


def baseline_bad_query(sb: Sandbox) -> list[str]:
    report = sb.write("report.json", json.dumps({"schema_version": 2, "kind": "profile"}))
    return ["compare", "--baseline", "store:colour=red", str(report), "--store", str(sb.out / "r.sqlite")]


CASES: list[Case] = [
    # paths read from files: confined to the folder of the file that names them
    Case("manifest-stage-traversal", "stage file `./../../x/v.onnx` refused: it resolves outside the export",
         traversal, message="outside"),
    Case("manifest-stage-traversal-fp16", "`profile --precisions fp16` on that export writes nothing, outside or in --out",
         traversal_fp16, message="outside", check=_no_variant_beside_victim),
    Case("manifest-stage-absolute", "an absolute stage file is refused", absolute_stage, message="outside"),
    Case("manifest-stage-symlink", "a stage file that is a link leaving the export is refused", symlinked_stage,
         message="resolves to .*outside"),
    Case("external-data-symlink", "external data through a link that leaves the model's folder is refused",
         external_link, message="outside"),
    Case("external-data-absolute", "an absolute external-data location is refused",
         lambda sb: ["flops", str(sb.external_model("/etc/passwd"))], message="outside"),
    Case("external-data-dotdot", "an external-data location with `..` out of the folder is refused",
         lambda sb: ["flops", str(sb.external_model("../../victim/w.data"))], message="outside"),
    Case("calibration-symlink", "a calibration .npz that is a link out of its folder is refused", calibration_link,
         message="--calibration .*outside"),
    # sizes: bounded before anything is allocated
    Case("flops-huge-batch", "`flops --dim batch=10^12` counts exactly (10^12 x the batch-1 MACs) in bounded memory",
         lambda sb: ["flops", str(sb.export()), "--dim", f"batch={HUGE}", "--json"], code=0, max_rss_mib=200,
         check=_huge_count),
    Case("flops-huge-vector", "an 89-byte model with a [10^12] input is counted in bounded memory", huge_vector,
         code=0, max_rss_mib=200),
    Case("flops-constant-of-huge-shape", "shape folding never evaluates a 10^12-element ConstantOfShape",
         constant_of_huge_shape, code=0, max_rss_mib=200),
    Case("bench-huge-declared-input", "`bench` of a declared [10^10, 8] input says how much memory it would need",
         huge_declared_input, message="need .*GiB", max_rss_mib=400),
    Case("bench-huge-shape", "`bench --shape x=10^12x8` is refused before allocating",
         lambda sb: ["bench", str(sb.matmul("dyn.onnx", ("n", 8))), "--shape", f"x={HUGE}x8", "--iterations", "1",
                     "--in-process"], message="need .*GiB", max_rss_mib=400),
    Case("bench-huge-batch", "`bench --batch 10^9` on an export is refused before allocating",
         _exp("bench", "--batch", str(10**9), "--iterations", "1", "--in-process"), message="need .*GiB", max_rss_mib=600),
    # work bounded by what a file asks for
    Case("manifest-repeat-1e9", "a schedule `repeat: 1000000000` is refused, not run",
         manifest_edit(_set("schedule.0.repeat", 10**9)), message="repeat must be"),
    Case("manifest-loop-steps-1e9", "a loop of 10^9 steps is refused", manifest_edit(_set("schedule.2.loop.steps", 10**9)),
         message="loop must have"),
    Case("manifest-diffusers-loop-without-scheduler", "a diffusers loop without its scheduler is refused",
         manifest_edit(_set("schedule.2.loop.kind", "diffusers")), message="has no scheduler"),
    Case("manifest-diffusers-alpha-bar-1", "a diffusers scheduler with alpha_bar 1 (a division by 1 - 1) is refused",
         manifest_edit(lambda m: [_set(k, v)(m) for k, v in (
             ("schedule.2.loop.kind", "diffusers"), ("schedule.2.loop.steps", 1),
             ("schedule.2.loop.scheduler", {"type": "DDPM", "timesteps": [1], "alpha_bar": [1.0],
                                            "alpha_bar_prev": [1.0]}))]),
         message="alpha_bar in \\(0, 1\\)"),
    Case("manifest-calls-per-step", "calls_per_step 0 is refused", manifest_edit(_set("stages.0.calls_per_step", 0), "flops"),
         message="calls_per_step"),
    Case("manifest-unknown-precision", "a manifest claiming precision `int4` is refused",
         manifest_edit(_set("precision", "int4")), message="precision 'int4' is not one of"),
    Case("manifest-kept-nodes-not-a-map", "a mixed precision's kept_fp32_nodes that is not stage -> node names is refused",
         manifest_edit(lambda m: [_set("precision", "int8-mixed")(m),
                                  _set("precision_info", {"kept_fp32_nodes": ["/a/MatMul"]})(m)]),
         message="kept_fp32_nodes must map stage names"),
    # malformed files: one line, never a traceback
    Case("manifest-binary", "a binary manifest.json is one error line", binary_manifest, message="manifest"),
    Case("manifest-json-list", "a manifest that is a JSON list is refused", manifest_list, message="not a deployprof manifest"),
    Case("manifest-unknown-dtype", "a tensor dtype deployprof cannot make is refused",
         manifest_edit(_set("stages.0.inputs.0.dtype", "complex128"), "flops"), message="dtype"),
    Case("manifest-unknown-stage", "a schedule naming a stage that does not exist is refused",
         manifest_edit(_set("schedule.0.stage", "ghost"), "flops"), message="ghost"),
    Case("manifest-negative-dim", "a negative tensor dimension in a manifest is refused",
         manifest_edit(_set("stages.0.inputs.0.shape.1", -3)), message="dimension"),
    Case("manifest-bad-default-dims", "default_dims that are not positive integers are refused",
         manifest_edit(_set("default_dims.kv_len", -1), "flops"), message="default_dims"),
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
    # output folders: checked first, never mixed
    Case("target-yaml-binary", "a binary target profile YAML is one error line",
         lambda sb: ["predict", str(sb.export()), "--target", str(sb.write("t.yaml", bytes(range(256)) * 4))],
         message="target profile"),
    Case("profile-out-is-file", "`profile --out FILE` is refused before any work",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.write("f.txt", "x"))], message="is a file"),
    Case("profile-out-under-file", "an --out that cannot be created is refused before any work",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.write("g.txt", "x") / "sub")], message="cannot be written"),
    Case("train-bench-out-is-file", "`train-bench --out FILE` is refused before training",
         lambda sb: ["train-bench", "tiny-vla", "--out", str(sb.write("t.txt", "x"))], message="is a file"),
    Case("export-non-empty-out", "`export` into a folder with other files needs --force; the files stay",
         export_into_non_empty, message="not empty", check=_unchanged_notes),
    # users' modules
    Case("module-factory-raises", "a --module factory that raises is one error line naming it",
         factory_module("def factory():\n    raise ValueError('no weights here')\n"), message="factory raised ValueError"),
    Case("module-factory-exits", "a --module factory that calls sys.exit() is one error line, not a silent exit",
         factory_module("import sys\ndef factory():\n    sys.exit(3)\n"), message=r"exit\(3\)"),
    Case("module-factory-returns-junk", "a --module factory returning the wrong thing is one error line",
         factory_module("def factory():\n    return 42\n"), message="returned int"),
    # options: validated at the edge
    Case("provider-option-unknown", "an unknown --provider-option key is refused, never ignored",
         lambda sb: ["bench", str(sb.matmul()), "--provider-option", "no_such_key=1", "--iterations", "1"],
         message="no_such_key"),
    Case("threads-negative", "`--threads -1` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--threads", "-1"], code=2),
    Case("duration-nan", "`--duration nan` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--duration", "nan"], code=2),
    Case("rate-zero", "`--rate 0` is a usage error", lambda sb: ["bench", str(sb.matmul()), "--rate", "0"], code=2),
    Case("predict-negative-batch", "`predict --batch -4` is a usage error",
         lambda sb: ["predict", str(sb.export()), "--target", "h100-sxm", "--batch", "-4"], code=2),
    Case("samples-zero", "`compare-precision --samples 0` is a usage error",
         _exp("compare-precision", "--precisions", "fp16", "--samples", "0"), code=2),
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
         _exp("compare-precision", "--precisions", "fp16", "--reference", "nope:fp32"), message="unknown backend 'nope'"),
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
         message="is a file; expected a run folder",
         check=lambda sb, _: None if (sb.out / "f").read_text() == "mine" else (_ for _ in ()).throw(
             AssertionError("precision-debug wrote into the file given as --out"))),
    Case("precision-debug-corrupt-cache", "a garbage evaluation cache in the run folder is measured again, not trusted",
         lambda sb: (sb.out.joinpath("d").mkdir(parents=True, exist_ok=True),
                     (sb.out / "d" / "evaluations.json").write_text('{"x": [1, 2'),
                     ["precision-debug", str(sb.export()), "--precision", "fp16", "--samples", "1", "--out",
                      str(sb.out / "d")])[-1], code=0, message="already passes|PASS keeping"),
    # the results store and sweeps
    Case("store-corrupt-file", "`history --store FILE` on a file that is not a database is one error line",
         lambda sb: ["history", "--store", str(sb.write("junk.sqlite", b"not a database " * 200))],
         message="cannot open the results store"),
    Case("store-newer-schema", "a store written by a newer deployprof is refused, not altered",
         newer_store, message="newer than this deployprof"),
    Case("store-unwritable", "a result whose store cannot be written is still printed (a warning, exit 0)",
         lambda sb: ["bench", str(sb.matmul()), "--iterations", "5", "--json",
                     "--store", str(sb.write("f.txt", "x") / "r.sqlite")], code=0, message='"kind": "bench"'),
    Case("baseline-bad-query", "`compare --baseline store:colour=red` names the known filters",
         baseline_bad_query, message="unknown store filter"),
    Case("sweep-bad-batch", "a sweep file with `batches: [-1]` is one error line before anything runs",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\nbatches: [-1]\n")), "--out",
                     str(sb.out / "s")], message="batches are positive integers"),
    Case("sweep-subject-outside", "a sweep subject outside the sweep file's folder is refused before anything runs",
         lambda sb: ["sweep", str(sb.write("s.yaml", f"subjects: [{sb.victim}]\n")), "--out", str(sb.out / "s")],
         message="outside"),
    Case("sweep-spec-outside", "a sweep spec outside the sweep file's folder is refused",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\nspec: ../victim/spec.yaml\n")), "--out",
                     str(sb.out / "s")], message="outside"),
    Case("sweep-not-yaml", "a sweep file that is not YAML is one error line",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla\n")), "--out", str(sb.out / "s")],
         message="not a readable YAML sweep"),
]
