"""A verdict is never PASS on numbers that cannot be: reports, store rows and targets validated on read."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
from onnx import TensorProto, helper

from .sandbox import BIG_INT, Case, F, Sandbox, loop_model, report_json


def _latency(field: str, value):
    def edit(d):
        d["runs"][0]["latency"][field] = value
    return edit


def _qualify(edit, spec: str = "latency_ms: {p99: 500}\n"):
    def make(sb: Sandbox) -> list[str]:
        return ["qualify", "--spec", str(sb.write("spec.yaml", spec)), str(report_json(sb, edit))]
    return make


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
    """A store that holds one profile result whose p50 column is `value_sql` in every row, read by `history`."""
    def make(sb: Sandbox) -> list[str]:
        store = sb.stored()
        with sqlite3.connect(store) as conn:
            conn.execute(f"UPDATE runs SET p50_ms = {value_sql}")
        conn.close()
        return ["history", "--store", str(store), "--json"]
    return make


def _huge_latencies(d: dict) -> None:
    for r in d["runs"]:
        lat = r["latency"]
        for k, v in list(lat.items()):
            if k.endswith("_ms") and isinstance(v, float):
                lat[k] = 1e308
        lat["samples_ms"] = [1e308] * len(lat["samples_ms"])
        lat["ci_ms"] = {k: [1e308, 1e308] for k in lat["ci_ms"]}
        lat["std_ms"] = 0.0


def _no_p99_ci(d: dict) -> None:
    for r in d["runs"]:
        r["latency"]["ci_ms"].pop("p99_ms", None)


def _markup_keys(d: dict) -> None:
    d["flops"] = {f"<script>alert({i})</script>": v for i, v in enumerate(d["flops"].values())}


def _no_script(sb: Sandbox, stdout: str) -> None:
    for name in ("report.html", "report.md"):
        assert "<script>alert" not in (sb.out / "rep" / name).read_text()


CASES: list[Case] = [
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
         loop_model(np.array(-5, np.int64)), message="trip count"),
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
    Case("report-1e308-latencies", "`report` of 1e308 ms latencies renders (no overflow to inf or an internal error)",
         lambda sb: ["report", str(report_json(sb, _huge_latencies, into_out=True))], code=0),
    Case("qualify-missing-p99-ci", "`qualify` of a report without a p99 interval is INCONCLUSIVE on it (exit 3), "
         "never an internal error", _qualify(_no_p99_ci), code=3, message="INCONCLUSIVE"),
    Case("report-markup-keys", "`report` escapes markup in report.json's keys in every view",
         lambda sb: ["report", str(report_json(sb, _markup_keys, into_out=True))], code=0, check=_no_script),
]
