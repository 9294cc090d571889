import dataclasses
import json

import numpy as np
import pytest

from deployprof.errors import ConfigError
from deployprof.measure.repeats import fold
from deployprof.measure.stats import compute_stats
from deployprof.compare import compare_reports
from deployprof.results import MachineLoad

from .test_results import make_report
from .conftest import invoke


def _run(mean_ms, sd=0.05, n=500, seed=0, **kw):
    base = make_report().runs[0]
    return dataclasses.replace(base, latency=compute_stats(list(np.random.default_rng(seed).normal(mean_ms, sd, n))), **kw)


def _rep(mean_ms, precision="fp32", sd=0.05, n=500, seed=0, repeats=1, spread=0.03, **kw):
    """A report of one run; with repeats > 1, that many independent runs folded as --repeats does, each shifted by
    a between-run factor of sd `spread` (the noise one run's own CI cannot see)."""
    rng = np.random.default_rng(seed + 1000)
    reps = [_run(mean_ms * float(np.exp(rng.normal(0, spread))) if repeats > 1 else mean_ms, sd, n, seed + i, **kw)
            for i in range(repeats)]
    base = make_report()
    return dataclasses.replace(base, runs=(dataclasses.replace(fold(reps), precision=precision),))


def test_one_run_each_is_shown_but_never_judged():
    """Identical work read +107% between two runs with both CIs apart: within-run CIs cannot judge that."""
    c = compare_reports(_rep(2.0), _rep(4.14, seed=1), threshold_pct=5.0)
    (m, _) = c.runs[0].metrics
    assert m.verdict == "unknown" and m.basis == "within-run" and 100 < m.delta_pct < 110 and not c.regressions
    assert "not judged" in c.conclusion and "--repeats" in c.conclusion and "--interleave" in c.conclusion


def test_repeated_runs_find_a_slowdown_and_pass_identical_work():
    slow = compare_reports(_rep(2.0, repeats=5), _rep(2.5, repeats=5, seed=7))
    p50 = slow.runs[0].metrics[0]
    assert p50.verdict == "regression" and p50.basis == "repeats" and (p50.runs_a, p50.runs_b) == (5, 5)
    assert 15 < p50.delta_pct < 35 and p50.delta_ci_pct[0] > 2 and p50.spread_pct > 0
    assert slow.regressions and slow.conclusion.startswith("2 regression(s): slower by more than 2%") and "p50 +" in slow.conclusion
    assert compare_reports(_rep(2.0, repeats=5), _rep(2.5, repeats=5, seed=7), threshold_pct=10.0).regressions
    big = compare_reports(_rep(2.0, repeats=5), _rep(2.5, repeats=5, seed=7), threshold_pct=200.0)
    # --fail-on-regression 200 beside +25%: no regression, and the sentence says exactly that.
    assert not big.regressions and big.conclusion.startswith("no regression over 200%")
    same = compare_reports(_rep(2.0, repeats=5), _rep(2.0, repeats=5, seed=7), threshold_pct=10.0)
    assert not same.regressions and all(m.verdict in ("within noise", "inconclusive") for m in same.runs[0].metrics)
    assert compare_reports(_rep(2.5, repeats=5), _rep(2.0, repeats=5, seed=7)).runs[0].metrics[0].verdict == "improvement"


def test_a_flagged_single_run_never_makes_a_call_on_its_own():
    busy = MachineLoad(1.9, 2.1, 1.4, 2)
    c = compare_reports(_rep(2.0, repeats=5), _rep(3.0, seed=3, load=busy))
    p50 = c.runs[0].metrics[0]
    assert p50.verdict == "flagged" and not c.regressions
    assert any("other processes took 1.4 of 2 cores" in f for f in c.runs[0].flags)
    assert "flagged" in c.conclusion
    # With repetitions, one flagged repetition is outvoted: the call stands and the flag is named.
    reps = compare_reports(_rep(2.0, repeats=5), _rep(3.0, repeats=4, seed=3, load=busy))
    assert reps.regressions and any(f.startswith("B: repetition 1:") for f in reps.runs[0].flags)


def test_repetitions_are_kept_and_the_summary_shows_the_between_run_interval():
    from deployprof.report.summary import pct_ci

    r = _rep(2.0, repeats=4).runs[0]
    assert r.repeats.count == 4 and len(r.repeats.values_ms["p50"]) == 4 and r.latency.count == 2000
    lo, hi = r.repeats.between_ci_ms["p50"]
    assert lo < 2.0 < hi and "(4 runs)" in pct_ci(r, "p50")


def test_precisions_line_up_when_told_to_ignore_them():
    c = compare_reports(_rep(2.0), _rep(1.5, "fp16"))
    assert not c.runs and c.only_a and c.only_b
    assert len(compare_reports(_rep(2.0), _rep(1.5, "fp16"), ignore=("precision",)).runs) == 1
    with pytest.raises(ConfigError, match="--ignore"):
        compare_reports(_rep(2.0), _rep(2.0), ignore=("target",))


def test_cli_exit_codes_for_ci(tmp_path):
    for name, rep in (("a", _rep(2.0, repeats=5)), ("b", _rep(2.6, repeats=5, seed=1)), ("c", _rep(2.0, repeats=5, seed=2)),
                      ("one", _rep(4.1, seed=4))):
        (tmp_path / name).mkdir()
        rep.write(tmp_path / name / "report.json")
    r = invoke(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression", "5"])
    assert r.exit_code == 3 and "regression(s): slower by more than 5%" in r.output
    r = invoke(["compare", str(tmp_path / "a"), str(tmp_path / "c"), "--fail-on-regression", "5"])
    assert r.exit_code == 0 and "no regression over 5% with 95% confidence" in r.output
    r = invoke(["compare", str(tmp_path / "a"), str(tmp_path / "one"), "--fail-on-regression", "5"])
    # One run against five: B borrows A's spread, and +100% clears it.
    assert r.exit_code == 3, r.output
    r = invoke(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["regressions"][0]["metric"] == "p50" and doc["runs"][0]["metrics"][0]["basis"] == "repeats"
    r = invoke(["compare", str(tmp_path / "a"), str(tmp_path / "missing")])
    assert r.exit_code == 1 and r.output.startswith("error: report not found")


def test_the_delta_interval_is_the_ratios_and_the_table_names_a_and_b():
    """'-5.5% [-134.3, +13.9]' was printed for a latency: the CI ends' difference over A's point value."""
    from deployprof.report.sections import comparison_table

    wide = _rep(2.0, sd=1.5, n=40, seed=3)  # few, spread samples: a wide B interval
    c = compare_reports(_rep(2.0), wide, names=("a/report.json", "b/report.json"))
    for m in c.runs[0].metrics:
        lo, hi = m.delta_ci_pct
        assert -100 <= lo <= m.delta_pct <= hi
    t = comparison_table(c)
    assert "B = b/report.json; A = a/report.json" in t.title and "one run each: not judged" in t.rows[0][4]


def _chain(path, layers, width=128, rows=32):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array((rng.standard_normal((width, width)) / 12).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
        prev = f"m{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [rows, width])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_interleaved_compare_of_two_models_re_measured_here(tmp_path):
    """Two .onnx files timed in alternating blocks: the same model twice is no regression, twice the layers is one.
    Thresholds far from both (20%) keep the test's verdicts safe on a loaded machine; scripts/bench_gate.py
    measures the gate's rates at 5%."""
    a, same, slow = (_chain(tmp_path / "a.onnx", 8), _chain(tmp_path / "a2.onnx", 8), _chain(tmp_path / "b.onnx", 16))
    r = invoke(["compare", "--interleave", str(a), str(same), "--fail-on-regression", "20", "--json",
                "--max-duration", "20"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    m = doc["runs"][0]["metrics"][0]
    assert m["basis"] == "interleaved" and m["verdict"] in ("within noise", "inconclusive") and doc["regressions"] == []
    assert doc["runs"][0]["key"][0] == "a vs a2" and len(doc["interleaved"]["a_block_ms"]) == m["runs_a"] >= 12
    r = invoke(["compare", "--interleave", str(a), str(slow), "--fail-on-regression", "20",
                "--max-duration", "20"])
    assert r.exit_code == 3, r.output
    assert "interleaved blocks" in r.output and "1 regression(s): slower by more than 20%" in r.output
    r = invoke(["compare", "--interleave", str(a)])
    assert r.exit_code == 1 and "compare --interleave takes two exports" in r.output
    r = invoke(["compare", "--interleave", str(a), str(tmp_path / "missing.onnx")])
    assert r.exit_code == 1 and r.output.startswith("error:") and "Traceback" not in r.output


def test_profile_interleave_times_each_precision_against_fp32_in_one_window(tmp_path):
    from deployprof.results import ProfileReport

    from .schema import validate

    model = _chain(tmp_path / "m.onnx", 6)
    r = invoke(["profile", str(model), "--out", str(tmp_path / "run"), "--precisions", "fp16",
                "--interleave", "--iterations", "20", "--warmup", "2", "--in-process",
                "--accuracy-samples", "0", "--no-layer-profile", "--no-store"])
    assert r.exit_code == 0, r.output
    report = ProfileReport.read(tmp_path / "run" / "report.json")
    (c,) = report.interleaved
    m = c.runs[0].metrics[0]
    assert c.runs[0].key[3] == "fp32 vs fp16" and m.basis == "interleaved" and m.runs_a >= 12
    assert c.interleaved.backend == "ort-cpu" and "export-fp16" in c.b
    validate(json.loads((tmp_path / "run" / "report.json").read_text()))
    md = (tmp_path / "run" / "report.md").read_text()
    assert "Speed against FP32, interleaved" in md and "fp16" in md
