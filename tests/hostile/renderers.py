"""Views never lose measurements: report.json is written whole before any view, and a view that cannot be drawn
(a module tree thousands deep, a tampered breakdown) is one warning while the others still appear."""
from __future__ import annotations

import json
from pathlib import Path

from onnx import helper

from .sandbox import F, Case, Sandbox, report_json

DEEP = 3000


def _deep_scopes(sb: Sandbox) -> list[str]:
    """A graph whose nodes sit 3000 modules deep (as the dynamo exporter writes scopes): measured, then drawn."""
    scopes = [""] + [f"m{i}" for i in range(DEEP)]
    nodes = []
    for i in range(4):
        n = helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu{i}")
        helper.set_metadata_props(n, {"pkg.torch.onnx.name_scopes": repr(scopes + [f"relu{i}"])})
        nodes.append(n)
    path = sb.model("deep.onnx", nodes, [helper.make_tensor_value_info("t0", F, [1, 64])],
                    [helper.make_tensor_value_info("t4", F, [1, 64])])
    return ["profile", str(path), "--out", str(sb.out / "p"), "--iterations", "20", "--warmup", "1", "--warmup-time", "0",
            "--accuracy-samples", "0", "--in-process"]


def _every_view(sb: Sandbox, stdout: str) -> None:
    p = sb.out / "p"
    assert {"report.json", "report.md", "report.html"} <= {x.name for x in p.iterdir()} and not (p / "INCOMPLETE").exists()
    runs = json.loads((p / "report.json").read_text())["runs"]
    assert runs and all(r["breakdown"] for r in runs)


def _tampered_breakdown(d: dict) -> None:
    """Every node names a module the list does not hold, and every time is zero."""
    for r in d["runs"]:
        b = r.get("breakdown")
        if b:
            for n in b["nodes"]:
                n["module_path"] = ["not.listed"]
                n["mean_ms"] = 0.0
            for c in b["modules"]:
                c["mean_ms"] = 0.0
            b["attributed_ms"] = 0.0


def _rerendered(sb: Sandbox, stdout: str) -> None:
    rep = Path(sb.out / "rep")
    assert (rep / "report.html").stat().st_size > 0 and (rep / "report.md").stat().st_size > 0


CASES: list[Case] = [
    Case("profile-scopes-3000-deep", "a graph whose module scopes are 3000 deep is measured and every view is written "
         "(once a RecursionError in the HTML icicle left INCOMPLETE and no report.html)", _deep_scopes, code=0,
         check=_every_view),
    Case("report-tampered-breakdown", "`report` of a breakdown whose nodes name a module not in its list, all times "
         "zero, renders every view (once an internal error)",
         lambda sb: ["report", str(report_json(sb, _tampered_breakdown, into_out=True))], code=0, check=_rerendered),
]
