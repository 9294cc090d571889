"""Paths read from files, confined to the folder of the file that names them (links and `..` included), and
nothing written outside --out, the cache or the store."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .sandbox import F, Case, Sandbox


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


def _no_variant_beside_victim(sb: Sandbox, stdout: str) -> None:
    assert not (sb.out / "p" / "report.json").exists()


def _spec_target_outside(sb: Sandbox) -> list[str]:
    from deployprof.targets import targets_dir
    (sb.victim / "t.yaml").write_text((targets_dir() / "h100-sxm.yaml").read_text())
    spec = sb.write("spec.yaml", "target: ../victim/t.yaml\nlatency_ms: {p99: 500}\n")
    return ["qualify", "--spec", str(spec), str(sb.report())]


def _custom_op(sb: Sandbox) -> list[str]:
    """A graph with an op nobody registered (ONNX Runtime's symbolic shape inference once saved
    sym_shape_infer_temp.onnx into the working directory when it could not finish)."""
    n = helper.make_node("Mystery", ["x"], ["y"], domain="com.example")
    g = helper.make_graph([n, helper.make_node("Relu", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", F, ["n", 8])], [helper.make_tensor_value_info("z", F, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(m, str(sb.inp / "custom.onnx"))
    return ["flops", str(sb.inp / "custom.onnx"), "--json"]


CASES: list[Case] = [
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
    Case("sweep-target-path-outside", "a sweep `targets:` path outside the sweep file's folder is refused",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\ntargets: [../victim/t.yaml]\n")), "--out",
                     str(sb.out / "s")], message="outside"),
    Case("spec-target-path-outside", "a spec `target:` path outside the spec's folder is refused",
         _spec_target_outside, message="outside"),
    Case("flops-custom-op-writes-nothing", "`flops` of a graph with an unregistered custom op writes nothing in the "
         "working directory (once sym_shape_infer_temp.onnx)", _custom_op, code=0),
]
