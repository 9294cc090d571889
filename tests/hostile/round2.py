"""The corpus's second round (issue 29): sizes a file or option names, impossible numbers, the user's files, documented
features, bad values, factories and paths, and results at scale. Same rules as cases.py; CASES there adds these."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .cases import F, Case, Sandbox, _set, factory_module, manifest_edit

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
BIG_INT = "9" * 5000


def _report_json(sb: Sandbox, edit, into_out: bool = False) -> Path:
    """The real report folder, its report.json edited (in out/ for a command that writes beside it)."""
    rep = sb.report()
    if into_out:
        rep = Path(shutil.move(str(rep), str(sb.out / "rep")))
    data = json.loads((rep / "report.json").read_text())
    edit(data)
    (rep / "report.json").write_text(json.dumps(data))
    return rep


def _latency(field: str, value):
    def edit(d):
        d["runs"][0]["latency"][field] = value
    return edit


def _qualify(edit, spec: str = "latency_ms: {p99: 500}\n"):
    def make(sb: Sandbox) -> list[str]:
        return ["qualify", "--spec", str(sb.write("spec.yaml", spec)), str(_report_json(sb, edit))]
    return make


def _fifo(sb: Sandbox, name: str) -> Path:
    path = sb.inp / name
    os.mkfifo(path)
    return path


def _sweep(text: str, *extra: str):
    def make(sb: Sandbox) -> list[str]:
        return ["sweep", str(sb.write("s.yaml", textwrap.dedent(text))), "--out", str(sb.out / "s"), *extra]
    return make


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


def _npz(arrays: dict, model_shape=(4, 8)):
    def make(sb: Sandbox) -> list[str]:
        np.savez(sb.inp / "in.npz", **arrays)
        return ["bench", str(sb.matmul("m.onnx", model_shape)), "--inputs", str(sb.inp / "in.npz"), "--iterations", "1",
                "--in-process"]
    return make


def _sparse_onnx(sb: Sandbox) -> list[str]:
    path = sb.inp / "huge.onnx"
    with open(path, "wb") as fh:
        fh.truncate(3 << 30)  # 3 GiB apparent, nothing written
    return ["flops", str(path)]


def _model(name, nodes, inputs, outputs, inits=()):
    return lambda sb: ["flops", str(sb.model(name, nodes, inputs, outputs, inits))]


def _loop(trip, body=True, cond=True):
    """A Loop node whose trip count is `trip` (an initializer), with or without its body."""
    def make(sb: Sandbox) -> list[str]:
        inits = []
        if trip is not None:
            inits.append(numpy_helper.from_array(np.asarray(trip), "n") if not isinstance(trip, bytes) else
                         helper.make_tensor("n", TensorProto.STRING, [1], [trip]))
        c = numpy_helper.from_array(np.array(True), "c")
        g = helper.make_graph([helper.make_node("Relu", ["s"], ["s2"]), helper.make_node("Identity", ["ci"], ["co"])], "b",
                              [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                               helper.make_tensor_value_info("ci", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("s", F, [4])],
                              [helper.make_tensor_value_info("co", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("s2", F, [4])])
        loop = helper.make_node("Loop", ["n" if trip is not None else "", "c" if cond else ""], ["y"],
                                **({"body": g} if body else {}))
        loop.input.append("x")
        return ["flops", str(sb.model("loop.onnx", [loop], [helper.make_tensor_value_info("x", F, [4])],
                                      [helper.make_tensor_value_info("y", F, None)], [*inits, c], opset=17))]
    return make


def _if_without_branch(sb: Sandbox) -> list[str]:
    c = numpy_helper.from_array(np.array(True), "c")
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "t", [], [helper.make_tensor_value_info("t", F, [4])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then)
    return ["flops", str(sb.model("if.onnx", [node], [helper.make_tensor_value_info("x", F, [4])],
                                  [helper.make_tensor_value_info("y", F, None)], [c]))]


def _negative_init(sb: Sandbox) -> list[str]:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-8, 8])
    return ["flops", str(sb.model("ni.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                                  [helper.make_tensor_value_info("x", F, [4, 8])],
                                  [helper.make_tensor_value_info("y", F, None)], [w]))]


def _target_peak(value: str):
    def make(sb: Sandbox) -> list[str]:
        from deployprof.targets import targets_dir
        import yaml
        data = yaml.safe_load((targets_dir() / "h100-sxm.yaml").read_text())
        key = next(k for k in data if "tflops" in k or "peak" in k)
        if isinstance(data[key], dict):
            data[key] = {k: value for k in data[key]}
        else:
            data[key] = value
        path = sb.write("t.yaml", yaml.safe_dump(data).replace("'inf'", ".inf").replace("'-1'", "-1"))
        return ["predict", str(sb.export()), "--target", str(path), "--json"]
    return make


def _foreign_sqlite(command):
    def make(sb: Sandbox) -> list[str]:
        path = sb.victim / "browser.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE cookies (host TEXT, value TEXT)")
            conn.execute("INSERT INTO cookies VALUES ('example.org', 'secret')")
        conn.close()
        return command(sb, path)
    return make


def _user_export_folder(command: str):
    """--out holds the user's own export/ folder (not one deployprof made there)."""
    folder = "export" if command == "profile" else "export-fp16"

    def make(sb: Sandbox) -> list[str]:
        mine = sb.out / "d" / folder
        mine.mkdir(parents=True)
        (mine / "my_notes.txt").write_text("the user's own work")
        if command == "profile":
            return ["profile", "tiny-vla", "--out", str(sb.out / "d"), "--iterations", "5", "--in-process"]
        return ["compare-precision", str(sb.export()), "--precisions", "fp16", "--samples", "1", "--out", str(sb.out / "d")]
    return make


def _user_export_kept(sb: Sandbox, stdout: str) -> None:
    assert [p.read_text() for p in (sb.out / "d").glob("export*/my_notes.txt")] == ["the user's own work"]


def _shapes_only(sb: Sandbox) -> list[str]:
    exp = sb.export()
    sb.edit_manifest(exp, _set("static_only", True))
    return ["profile", str(exp), "--out", str(sb.out / "p"), "--iterations", "5", "--in-process"]


def _deep_json(sb: Sandbox) -> list[str]:
    return ["compare", str(sb.report()), str(sb.write("deep.json", "[" * 100000 + "]" * 100000))]


def _spec_target_outside(sb: Sandbox) -> list[str]:
    from deployprof.targets import targets_dir
    (sb.victim / "t.yaml").write_text((targets_dir() / "h100-sxm.yaml").read_text())
    spec = sb.write("spec.yaml", "target: ../victim/t.yaml\nlatency_ms: {p99: 500}\n")
    return ["qualify", "--spec", str(spec), str(sb.report())]


def _many_samples(sb: Sandbox) -> list[str]:
    def edit(d):
        lat = d["runs"][0]["latency"]
        rng = np.random.default_rng(0)
        lat["samples_ms"] = [round(float(x), 4) for x in lat["p50_ms"] * (1 + 0.01 * rng.random(1_000_000))]
        lat["count"] = 1_000_000
    return ["report", str(_report_json(sb, edit, into_out=True))]


def _bounded_html(sb: Sandbox, stdout: str) -> None:
    html = sb.out / "rep" / "report.html"
    assert html.stat().st_size < 8 << 20, f"report.html is {html.stat().st_size >> 20} MiB"


def _markup_report(sb: Sandbox) -> list[str]:
    def edit(d):
        d["warnings"] = ["<script>alert(1)</script> and [a link](javascript:alert(1)) | a | table |"]
    return ["report", str(_report_json(sb, edit, into_out=True))]


def _md_escaped(sb: Sandbox, stdout: str) -> None:
    md = (sb.out / "rep" / "report.md").read_text()
    assert "<script>" not in md and "](javascript:" not in md


def _non_utf8_path(sb: Sandbox) -> list[str]:
    folder = Path(os.fsdecode(bytes(sb.inp) + b"/caf\xe9"))
    folder.mkdir()
    path = sb.matmul()
    target = Path(os.fsdecode(bytes(folder) + b"/m.onnx"))
    target.write_bytes(path.read_bytes())
    return ["flops", os.fsdecode(bytes(target)), "--json"]


HOLD = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)\n")


def _busy_out(command):
    """Another run holds --out (its lock, as a running profile or sweep does): a second run is refused at once."""
    def make(sb: Sandbox) -> list[str]:
        out = sb.out / "d"
        out.mkdir()
        sb.holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out / ".deployprof.lock")], stdout=subprocess.PIPE,
                                     text=True)
        assert sb.holder.stdout.readline().strip() == "held"
        if command == "sweep":
            return ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\n")), "--out", str(out)]
        return ["profile", str(sb.export()), "--out", str(out), "--iterations", "5", "--in-process"]
    return make


def _release(sb: Sandbox, stdout: str) -> None:
    sb.holder.kill()
    sb.holder.wait()
    assert not (sb.out / "d" / "report.json").exists() and not (sb.out / "d" / "sweep.json").exists()


def _two_stores_typo(sb: Sandbox) -> list[str]:
    return ["history", "--store", str(sb.out / "no-such-dir-typo" / "results.sqlite")]


def _no_store_created(sb: Sandbox, stdout: str) -> None:
    assert not (sb.out / "no-such-dir-typo").exists()


def _foreign_unchanged(sb: Sandbox, stdout: str) -> None:
    with sqlite3.connect(f"file:{sb.victim / 'browser.sqlite'}?mode=ro", uri=True) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["cookies"]


def _compare_nan(sb: Sandbox) -> list[str]:
    a = sb.report()
    data = json.loads((a / "report.json").read_text())
    for r in data["runs"]:
        r["latency"]["p50_ms"] = float("nan")
    other = sb.inp / "nan"
    other.mkdir()
    (other / "report.json").write_text(json.dumps(data))
    return ["compare", str(a), str(other), "--fail-on-regression", "5"]


def _store_row(value_sql: str):
    """A store that holds one bench row whose p50 column is `value_sql`, read by `history`."""
    def make(sb: Sandbox) -> list[str]:
        import subprocess
        import sys
        store = sb.inp / "r.sqlite"
        subprocess.run([sys.executable, "-m", "deployprof", "bench", str(sb.matmul()), "--iterations", "5", "--in-process",
                        "--store", str(store)], check=True, capture_output=True, env={**os.environ, "HOME": str(sb.root / "home")})
        with sqlite3.connect(store) as conn:
            conn.execute(f"UPDATE runs SET p50_ms = {value_sql}")
        conn.close()
        return ["history", "--store", str(store), "--json"]
    return make


ROUND2: list[Case] = [
    # 1. every size a file or option names is bounded before work starts
    Case("spec-yaml-alias-bomb", "a spec YAML of nested aliases (a billion laughs) is refused before it is expanded",
         lambda sb: ["qualify", "--spec", str(sb.write("spec.yaml", BOMB)), str(sb.report())], message="alias",
         max_rss_mib=300),
    Case("sweep-yaml-alias-bomb", "a sweep YAML of nested aliases is refused before it is expanded",
         _sweep(BOMB + "subjects: [*i]\n"), message="alias", max_rss_mib=300),
    Case("preset-yaml-alias-bomb", "a preset YAML of nested aliases is refused before it is expanded",
         lambda sb: ["export", str(sb.write("p.yaml", BOMB)), "--out", str(sb.out / "e")], message="alias",
         max_rss_mib=300),
    Case("target-yaml-alias-bomb", "a target profile YAML of nested aliases is refused before it is expanded",
         lambda sb: ["predict", str(sb.export()), "--target", str(sb.write("t.yaml", BOMB))], message="alias",
         max_rss_mib=300),
    Case("sweep-matrix-1e8", "a sweep matrix of 10^8 configurations is refused before it is built",
         _sweep("subjects: [tiny-vla]\nbatches: [" + ", ".join(map(str, range(1, 10001))) + "]\n"
                "precisions: [" + ", ".join(["fp32"] * 10000) + "]\n"), message="configurations", max_rss_mib=300),
    Case("sweep-measure-threads-1e6", "sweep `measure: {threads: 10^6}` is refused with the option's range",
         _sweep("subjects: [tiny-vla]\nmeasure: {threads: 1000000}\n"), message="threads"),
    Case("sweep-measure-accuracy-samples-1e8", "sweep `measure: {accuracy_samples: 10^8}` is refused",
         _sweep("subjects: [tiny-vla]\nmeasure: {accuracy_samples: 100000000}\n"), message="accuracy_samples"),
    Case("sweep-measure-iterations-1e12", "sweep `measure: {iterations: 10^12}` is refused",
         _sweep("subjects: [tiny-vla]\nmeasure: {iterations: 1000000000000}\n"), message="iterations"),
    Case("sweep-measure-concurrency-1e5", "sweep `measure: {concurrency: 10^5}` is refused",
         _sweep("subjects: [tiny-vla]\nbackends: [{name: ort-cpu, measure: {concurrency: 100000}}]\n"),
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
    # 2. a verdict is never PASS on numbers that cannot be
    Case("qualify-negative-latency", "`qualify` of a report with a negative p99 is refused, not PASSed",
         _qualify(_latency("p99_ms", -5.0)), message="p99_ms"),
    Case("qualify-ci-outside-value", "a p99 of 1e9 with a CI of [0.1, 0.2] is refused, not PASSed",
         _qualify(lambda d: (d["runs"][0]["latency"].update(p99_ms=1e9, p999_ms=1e9, max_ms=1e9),
                             d["runs"][0]["latency"]["ci_ms"].update(p99=[0.1, 0.2]))),
         message="interval"),
    Case("qualify-string-latency", "a p99 that is a string in report.json is refused naming the field",
         _qualify(_latency("p99_ms", "fast")), message="p99_ms"),
    Case("qualify-huge-int-latency", "a p99 of 5,000 digits in report.json is one error line",
         lambda sb: ["qualify", "--spec", str(sb.write("spec.yaml", "latency_ms: {p99: 500}\n")),
                     str((lambda r: ((r / "report.json").write_text(
                         (r / "report.json").read_text().replace('"p99_ms": ', f'"p99_ms": {BIG_INT}, "x": ', 1)), r)[1])(
                         sb.report()))], message="report"),
    Case("compare-nan-gate", "`compare --fail-on-regression` on NaN latencies is refused, never a passing gate",
         _compare_nan, message="p50_ms"),
    Case("flops-loop-negative-trip", "a Loop with a negative trip count is refused, never negative MACs",
         _loop(np.array(-5, np.int64)), message="trip count"),
    Case("flops-negative-initializer", "an initializer with a negative dimension is refused, never negative parameters",
         _negative_init, message="negative"),
    Case("flops-zero-element-input", "a zero-element input is refused, not counted as an exact zero",
         lambda sb: ["flops", str(sb.matmul("z.onnx", (0, 8)))], message="zero"),
    Case("target-infinite-peak", "a target profile with an infinite peak is refused (no 0.0 ms floor, no Infinity)",
         _target_peak(".inf"), message="finite"),
    Case("target-negative-peak", "a target profile with a negative peak is refused",
         _target_peak("-1"), message="positive|finite"),
    Case("store-row-negative", "a store row with a negative latency is refused on read, naming the row",
         _store_row("-3.0"), message="store"),
    Case("store-row-string", "a store row with a string where a latency belongs is refused on read",
         _store_row("'fast'"), message="store"),
    # 3. nothing of the user's is deleted or lost
    Case("profile-out-user-export", "`profile --out D` never deletes a D/export/ folder it did not make",
         _user_export_folder("profile"), message="did not write", check=_user_export_kept),
    Case("compare-precision-out-user-export", "`compare-precision --out D` never deletes D/export/ of the user's",
         _user_export_folder("compare-precision"), message="did not write", check=_user_export_kept),
    Case("profile-out-busy", "`profile --out D` while another run writes D is refused at once (no lost report)",
         _busy_out("profile"), message="another deployprof run is writing", check=_release),
    Case("sweep-out-busy", "`sweep --out D` while another sweep writes D is refused at once",
         _busy_out("sweep"), message="another deployprof run is writing", check=_release),
    Case("store-foreign-sqlite-history", "`history --store` on another application's SQLite file is refused, unaltered",
         _foreign_sqlite(lambda sb, p: ["history", "--store", str(p)]), message="not a deployprof", check=_foreign_unchanged),
    Case("store-foreign-sqlite-bench", "`bench --store` on another application's SQLite file is refused before work",
         _foreign_sqlite(lambda sb, p: ["bench", str(sb.matmul()), "--iterations", "2", "--store", str(p)]),
         message="not a deployprof", check=_foreign_unchanged),
    Case("history-store-typo", "`history --store` naming a store that does not exist is an error, and creates nothing",
         _two_stores_typo, message="no results store", check=_no_store_created),
    # 4. documented features that fail
    Case("sweep-measure-dims", "a sweep with the documented `measure: {dims: ...}` is read (not an internal error)",
         _sweep("subjects: [tiny-vla]\nmeasure: {dims: {past: 4}, threads: 1}\n", "--dry-run"), code=0,
         message="1 configuration"),
    Case("sweep-provider-options", "a sweep with the documented `measure: {provider_options: ...}` is read",
         _sweep("subjects: [tiny-vla]\nmeasure: {provider_options: {arena_extend_strategy: kSameAsRequested}}\n",
                "--dry-run"), code=0, message="1 configuration"),
    Case("profile-shapes-only-export", "`profile` of a shapes-only export counts it and says it has no weights to run",
         _shapes_only, code=0, message="shapes-only export"),
    # 5. no internal errors from bad values
    Case("npz-wrong-dtype", "an .npz input of the wrong dtype names the input and the dtype expected",
         _npz({"x": np.ones((4, 8), np.int64)}), message="x.*float32"),
    Case("npz-wrong-shape", "an .npz input of the wrong shape names the input and the shape expected",
         _npz({"x": np.ones((3, 3), np.float32)}), message="x.*shape"),
    Case("npz-string-kind", "an .npz input of strings is refused naming it",
         _npz({"x": np.array(["a", "b"])}), message="x"),
    Case("npz-extra-key", "an .npz with a key the graph has no input for is refused, not ignored",
         _npz({"x": np.ones((4, 8), np.float32), "typo": np.ones(2, np.float32)}), message="typo"),
    Case("manifest-range-1e30", "a manifest input range bound of 10^30 is refused",
         manifest_edit(_set("stages.1.inputs.1.high", 10**30)), message="prompt_ids"),
    Case("manifest-range-low-above-high", "a manifest input range whose low is above its high is refused",
         manifest_edit(_set("stages.0.inputs.0.low", 5)), message="images"),
    Case("manifest-range-nan", "a NaN in a manifest input range is refused",
         lambda sb: ["bench", str((lambda e: ((e / "manifest.json").write_text(
             (e / "manifest.json").read_text().replace('"low": -1.0', '"low": NaN', 1)), e)[1])(sb.export())),
             "--iterations", "2", "--in-process"], message="images"),
    Case("manifest-loop-tensor-missing", "a loop whose state tensor the graph lacks is refused, naming it",
         manifest_edit(_set("schedule.2.loop.state", "ghost_token"), "flops"), message="ghost_token"),
    Case("manifest-action-tensor-missing", "a loop whose result tensor the graph lacks is refused, naming it",
         manifest_edit(_set("schedule.2.loop.output", "ghost_logits"), "flops"), message="ghost_logits"),
    Case("onnx-loop-no-body", "a Loop without a body is one error line", _loop(np.array(3, np.int64), body=False),
         message="body"),
    Case("onnx-if-no-branch", "an If without its else branch is one error line", _if_without_branch, message="branch"),
    Case("onnx-loop-string-trip", "a Loop whose trip count is a string is one error line", _loop(b"three"),
         message="trip count"),
    Case("onnx-loop-empty-trip", "a Loop whose trip count is an empty tensor is one error line",
         _loop(np.array([], np.int64)), message="trip count"),
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
    # 6. factories and paths
    Case("module-factory-base-exception", "a --module factory raising a BaseException subclass is one error line",
         factory_module("class Boom(BaseException):\n    pass\ndef factory():\n    raise Boom('no')\n"), message="Boom"),
    Case("module-factory-os-exit", "a --module factory calling os._exit(0) is one error line and exit 1, never a silent 0",
         factory_module("import os\ndef factory():\n    os._exit(0)\n"), message="process ended"),
    Case("sweep-target-path-outside", "a sweep `targets:` path outside the sweep file's folder is refused",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\ntargets: [../victim/t.yaml]\n")), "--out",
                     str(sb.out / "s")], message="outside"),
    Case("spec-target-path-outside", "a spec `target:` path outside the spec's folder is refused",
         _spec_target_outside, message="outside"),
    # 7. results at scale
    Case("report-million-samples", "a run of 10^6 samples renders in bounded memory, its HTML a few MB",
         _many_samples, code=0, max_rss_mib=1200, check=_bounded_html),
    Case("report-md-markup", "report.md escapes markup from report.json (no raw HTML, no javascript: links)",
         _markup_report, code=0, check=_md_escaped),
]
