"""The hostile-input corpus's tools: a case (what deployprof owes an input), the sandbox each runs in, and
builders several topics share. The cases themselves are grouped by topic (paths, sizes, malformed, values, folders,
caches, renderers, factories, stores, verdicts); corpus.py gathers them, test_hostile.py runs each through the
real CLI and docs/HOSTILE.md lists them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    code: int = 1                                 # 1: one `error:` line; 2: a usage error; 0 (3: a verdict short
    #                                               of PASS): handled correctly
    message: str = ""                             # a regex the error line (or stdout for code 0) must match
    max_rss_mib: Optional[int] = None             # peak memory bound where size is the attack
    check: Optional[Callable[["Sandbox", str], None]] = None   # further checks on the outcome (stdout given)
    env: Optional[dict] = None                    # environment variables the command runs with


class Sandbox:
    """in/ holds the inputs (must not change), victim/ files a hostile input points at (must not change),
    out/ is where the command may write; HOME, TMPDIR, the cache and the working directory (cwd/, which must stay
    empty) are private to the case."""

    def __init__(self, root: Path, export: Path):
        self.root, self.export_src = root, export
        for d in ("in", "victim", "out", "home", "tmp", "cwd"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self.inp, self.victim, self.out = root / "in", root / "victim", root / "out"
        self.cwd, self.home, self.tmp = root / "cwd", root / "home", root / "tmp"

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

    def recorded(self, folder: Path, command: str, subject: str) -> Path:
        """`folder` as a run of `command` on `subject` leaves it (its record), for cases that tamper with one."""
        from deployprof.runfolder import RECORD

        folder.mkdir(parents=True, exist_ok=True)
        (folder / RECORD).write_text(json.dumps({"command": command, "subject": subject, "started_utc": "earlier"}))
        return folder

    def deployprof(self, *args: str) -> None:
        """Run deployprof in the case's private HOME, TMPDIR and cache (to make a real run folder or cache first)."""
        env = {**os.environ, "HOME": str(self.home), "TMPDIR": str(self.tmp), "DEPLOYPROF_CACHE": str(self.home / "cache")}
        proc = subprocess.run([sys.executable, "-m", "deployprof", *args], cwd=self.cwd, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode in (0, 3), proc.stderr[-2000:]

    def stored(self) -> Path:
        """A real results store holding that report (written by the suite's fixture), this case's own copy."""
        dst = self.inp / "s.sqlite"
        shutil.copy(self.export_src.parent / "store.sqlite", dst)
        return dst

    def report(self) -> Path:
        """A real, complete report folder of the tiny export (written by the suite's fixture)."""
        dst = self.inp / "rep"
        shutil.copytree(self.export_src.parent / "report", dst)
        return dst


def manifest_edit(edit: Callable[[dict], None], command: str = "bench"):
    def make(sb: Sandbox) -> list[str]:
        exp = sb.edit_manifest(sb.export(), edit)
        return [command, str(exp)] + (["--iterations", "2", "--in-process"] if command == "bench" else [])
    return make


def set_field(path: str, value):
    def edit(m):
        *keys, last = path.split(".")
        node = m
        for k in keys:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(last) if isinstance(node, list) else last] = value
    return edit


def export_args(*args):
    return lambda sb: [args[0], str(sb.export()), *args[1:]]


BIG_INT = "9" * 5000


def report_json(sb: Sandbox, edit, into_out: bool = False) -> Path:
    """The real report folder, its report.json edited (in out/ for a command that writes beside it)."""
    rep = sb.report()
    if into_out:
        rep = Path(shutil.move(str(rep), str(sb.out / "rep")))
    data = json.loads((rep / "report.json").read_text())
    edit(data)
    (rep / "report.json").write_text(json.dumps(data))
    return rep


def sweep_args(text: str, *extra: str):
    def make(sb: Sandbox) -> list[str]:
        return ["sweep", str(sb.write("s.yaml", textwrap.dedent(text))), "--out", str(sb.out / "s"), *extra]
    return make


def model_args(name, nodes, inputs, outputs, inits=()):
    return lambda sb: ["flops", str(sb.model(name, nodes, inputs, outputs, inits))]


def loop_model(trip, body=True, cond=True):
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
