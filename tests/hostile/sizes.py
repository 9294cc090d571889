"""Sizes a file or option names, bounded before work: dimensions, matrices, YAML aliases, archives, files over
their size or not regular, results at scale."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .sandbox import Case, F, HUGE, Sandbox, export_args, manifest_edit, report_json, set_field, sweep_args


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


def _huge_count(sb: Sandbox, stdout: str) -> None:
    d = json.loads(stdout)
    one = json.loads((sb.export_src.parent / "flops_batch1.json").read_text())
    assert d["macs"] == one["macs"] * HUGE and not d["lower_bound"]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _fifo(sb: Sandbox, name: str) -> Path:
    path = sb.inp / name
    os.mkfifo(path)
    return path


def _npz_header_bomb(sb: Sandbox) -> list[str]:
    """A 200-byte .npz whose array header claims 2^40 float32 elements."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 64
    with zipfile.ZipFile(sb.inp / "bomb.npz", "w") as z:
        z.writestr("x.npy", npy)
    return ["bench", str(sb.matmul()), "--inputs", str(sb.inp / "bomb.npz"), "--iterations", "1", "--in-process"]


def _npz_zip_bomb(sb: Sandbox) -> list[str]:
    """512 MiB of zeros deflated to about half a megabyte, under the graph's own input name."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (134217728,), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with zipfile.ZipFile(sb.inp / "zip.npz", "w", zipfile.ZIP_DEFLATED) as z, z.open("x.npy", "w", force_zip64=True) as fh:
        fh.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        chunk = bytes(1 << 24)
        for _ in range(32):
            fh.write(chunk)
    return ["bench", str(sb.matmul()), "--inputs", str(sb.inp / "zip.npz"), "--iterations", "1", "--in-process"]


def _sparse_onnx(sb: Sandbox) -> list[str]:
    path = sb.inp / "huge.onnx"
    with open(path, "wb") as fh:
        fh.truncate(3 << 30)  # 3 GiB apparent, nothing written
    return ["flops", str(path)]


def _many_samples(sb: Sandbox) -> list[str]:
    def edit(d):
        lat = d["runs"][0]["latency"]
        rng = np.random.default_rng(0)
        lat["samples_ms"] = [round(float(x), 4) for x in lat["p50_ms"] * (1 + 0.01 * rng.random(1_000_000))]
        lat["count"] = 1_000_000
    return ["report", str(report_json(sb, edit, into_out=True))]


def _bounded_html(sb: Sandbox, stdout: str) -> None:
    html = sb.out / "rep" / "report.html"
    assert html.stat().st_size < 8 << 20, f"report.html is {html.stat().st_size >> 20} MiB"


def _markup_report(sb: Sandbox) -> list[str]:
    def edit(d):
        d["warnings"] = ["<script>alert(1)</script> and [a link](javascript:alert(1)) | a | table |"]
    return ["report", str(report_json(sb, edit, into_out=True))]


def _md_escaped(sb: Sandbox, stdout: str) -> None:
    md = (sb.out / "rep" / "report.md").read_text()
    assert "<script>" not in md and "](javascript:" not in md


def _config_with_a_tail(sb: Sandbox) -> list[str]:
    """A LeRobot-looking folder whose config.json is valid JSON followed by a 1 GiB tail (sparse on disk)."""
    folder = sb.inp / "ckpt"
    folder.mkdir()
    with open(folder / "config.json", "w") as fh:
        fh.write('{"type": "act"}\n')
        fh.truncate(1 << 30)
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return ["export", "--lerobot", str(folder), "--out", str(sb.out / "e")]


def _long_scope(sb: Sandbox) -> list[str]:
    """A node whose scope metadata is an 8 MB list literal (parsed whole, once 2.1 GB)."""
    n = helper.make_node("Relu", ["x"], ["y"], name="relu")
    helper.set_metadata_props(n, {"pkg.torch.onnx.name_scopes": repr([""] + ["m" * 60] * 130_000 + ["relu"])})
    path = sb.model("scope.onnx", [n], [helper.make_tensor_value_info("x", F, [1, 64])],
                    [helper.make_tensor_value_info("y", F, [1, 64])])
    return ["profile", str(path), "--out", str(sb.out / "p"), "--iterations", "20", "--warmup", "1", "--warmup-time", "0",
            "--accuracy-samples", "0", "--in-process"]


CASES: list[Case] = [
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
         export_args("bench", "--batch", str(10**9), "--iterations", "1", "--in-process"), message="need .*GiB", max_rss_mib=600),
    Case("manifest-repeat-1e9", "a schedule `repeat: 1000000000` is refused, not run",
         manifest_edit(set_field("schedule.0.repeat", 10**9)), message="repeat must be"),
    Case("manifest-loop-steps-1e9", "a loop of 10^9 steps is refused", manifest_edit(set_field("schedule.2.loop.steps", 10**9)),
         message="loop must have"),
    Case("manifest-diffusers-loop-without-scheduler", "a diffusers loop without its scheduler is refused",
         manifest_edit(set_field("schedule.2.loop.kind", "diffusers")), message="has no scheduler"),
    Case("manifest-diffusers-alpha-bar-1", "a diffusers scheduler with alpha_bar 1 (a division by 1 - 1) is refused",
         manifest_edit(lambda m: [set_field(k, v)(m) for k, v in (
             ("schedule.2.loop.kind", "diffusers"), ("schedule.2.loop.steps", 1),
             ("schedule.2.loop.scheduler", {"type": "DDPM", "timesteps": [1], "alpha_bar": [1.0],
                                            "alpha_bar_prev": [1.0]}))]),
         message="alpha_bar in \\(0, 1\\)"),
    Case("manifest-calls-per-step", "calls_per_step 0 is refused", manifest_edit(set_field("stages.0.calls_per_step", 0), "flops"),
         message="calls_per_step"),
    Case("manifest-action-std-negative", "an action std (the default per-joint limits) below zero is refused",
         manifest_edit(set_field("action_std", [0.1, -1.0])), message="action_std must be a list of finite"),
    Case("manifest-unknown-precision", "a manifest claiming precision `int3` is refused",
         manifest_edit(set_field("precision", "int3")), message="precision 'int3' is not one of"),
    Case("manifest-kept-nodes-not-a-map", "a mixed precision's kept_fp32_nodes that is not stage -> node names is refused",
         manifest_edit(lambda m: [set_field("precision", "int8-mixed")(m),
                                  set_field("precision_info", {"kept_fp32_nodes": ["/a/MatMul"]})(m)]),
         message="kept_fp32_nodes must map stage names"),
    Case("spec-yaml-alias-bomb", "a spec YAML of nested aliases (a billion laughs) is refused before it is expanded",
         lambda sb: ["qualify", "--spec", str(sb.write("spec.yaml", BOMB)), str(sb.report())], message="alias",
         max_rss_mib=300),
    Case("sweep-yaml-alias-bomb", "a sweep YAML of nested aliases is refused before it is expanded",
         sweep_args(BOMB + "subjects: [*i]\n"), message="alias", max_rss_mib=300),
    Case("preset-yaml-alias-bomb", "a preset YAML of nested aliases is refused before it is expanded",
         lambda sb: ["export", str(sb.write("p.yaml", BOMB)), "--out", str(sb.out / "e")], message="alias",
         max_rss_mib=300),
    Case("target-yaml-alias-bomb", "a target profile YAML of nested aliases is refused before it is expanded",
         lambda sb: ["predict", str(sb.export()), "--target", str(sb.write("t.yaml", BOMB))], message="alias",
         max_rss_mib=300),
    Case("sweep-matrix-1e8", "a sweep matrix of 10^8 configurations is refused before it is built",
         sweep_args("subjects: [tiny-vla]\nbatches: [" + ", ".join(map(str, range(1, 10001))) + "]\n"
                "precisions: [" + ", ".join(["fp32"] * 10000) + "]\n"), message="configurations", max_rss_mib=300),
    Case("sweep-measure-threads-1e6", "sweep `measure: {threads: 10^6}` is refused with the option's range",
         sweep_args("subjects: [tiny-vla]\nmeasure: {threads: 1000000}\n"), message="threads"),
    Case("sweep-measure-accuracy-samples-1e8", "sweep `measure: {accuracy_samples: 10^8}` is refused",
         sweep_args("subjects: [tiny-vla]\nmeasure: {accuracy_samples: 100000000}\n"), message="accuracy_samples"),
    Case("sweep-measure-iterations-1e12", "sweep `measure: {iterations: 10^12}` is refused",
         sweep_args("subjects: [tiny-vla]\nmeasure: {iterations: 1000000000000}\n"), message="iterations"),
    Case("sweep-measure-concurrency-1e5", "sweep `measure: {concurrency: 10^5}` is refused",
         sweep_args("subjects: [tiny-vla]\nbackends: [{name: ort-cpu, measure: {concurrency: 100000}}]\n"),
         message="concurrency"),
    Case("option-iterations-1e12", "`--iterations 10^12` is a usage error (the range a sweep has too)",
         lambda sb: ["bench", str(sb.matmul()), "--iterations", str(10**12)], code=2),
    Case("option-threads-1e6", "`--threads 10^6` is a usage error",
         lambda sb: ["bench", str(sb.matmul()), "--threads", str(10**6)], code=2),
    Case("npz-header-2e40", "an .npz header claiming 2^40 elements is refused before reading",
         _npz_header_bomb, message="--inputs", max_rss_mib=300),
    Case("npz-zip-bomb", "a deflated 512 MiB array in a half-megabyte .npz is refused before it is inflated",
         _npz_zip_bomb, message="--inputs", max_rss_mib=300),
    Case("onnx-sparse-3gib", "a 3 GiB (sparse) .onnx is refused from its size, before it is read",
         _sparse_onnx, message="GiB", max_rss_mib=300),
    Case("model-fifo", "a FIFO given as the model is refused, never opened (it would block)",
         lambda sb: ["flops", str(_fifo(sb, "m.onnx"))], message="not a regular file"),
    Case("inputs-fifo", "a FIFO given as --inputs is refused, never opened",
         lambda sb: ["bench", str(sb.matmul()), "--inputs", str(_fifo(sb, "in.npz")), "--iterations", "1",
                     "--in-process"], message="not a regular file"),
    Case("spec-fifo", "a FIFO given as --spec is refused, never opened",
         lambda sb: ["qualify", "--spec", str(_fifo(sb, "spec.yaml")), str(sb.report())], message="not a regular file"),
    Case("manifest-fifo", "an export whose manifest.json is a FIFO is refused, never opened",
         lambda sb: ["flops", str((lambda e: (os.unlink(e / "manifest.json"), os.mkfifo(e / "manifest.json"), e)[2])(
             sb.export()))], message="not a regular file"),
    Case("report-million-samples", "a run of 10^6 samples renders in bounded memory, its HTML a few MB",
         _many_samples, code=0, max_rss_mib=1200, check=_bounded_html),
    Case("report-md-markup", "report.md escapes markup from report.json (no raw HTML, no javascript: links)",
         _markup_report, code=0, check=_md_escaped),
    Case("lerobot-config-1gib-tail", "a config.json of valid JSON and a 1 GiB tail is read no further than a config "
         "needs: \"not a LeRobot checkpoint\" in bounded memory (once 2.3 GB and 22 s)", _config_with_a_tail,
         message="not a LeRobot checkpoint", max_rss_mib=400),
    Case("profile-scope-string-8mb", "an 8 MB module-scope string is not parsed (a real one is under 1 KB); the run "
         "completes in bounded memory", _long_scope, code=0, max_rss_mib=700),
]
