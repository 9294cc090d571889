"""precision-debug: a graph whose one component breaks INT8 (an activation with one huge channel, per-tensor
quantised, wipes out the others) is found, kept in FP32, and the mixed variant passes."""
import json

import numpy as np
import pytest

from deployprof.config import AccuracyConfig, CalibrationConfig
from deployprof.precision.debug import CONFIRM_SEED, components, debug_precision
from deployprof.manifest import load_subject

from ..conftest import FAST, invoke


def _policy(path, outlier: float = 1e4):
    """x[1,32] -> /small/MatMul -> /big/Mul (one channel x outlier) -> /big/MatMul (that row / outlier) -> /head/MatMul.
    In FP32 the outlier cancels; INT8 with one scale for the Mul's output rounds every other channel to zero."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    ws = rng.standard_normal((32, 32)).astype(np.float32) / 6
    scale = np.ones(32, np.float32)
    scale[3] = outlier
    wb = (rng.standard_normal((32, 32)) / 6 / scale[:, None]).astype(np.float32)
    wh = rng.standard_normal((32, 8)).astype(np.float32) / 6
    inits = [numpy_helper.from_array(a, n) for a, n in ((ws, "ws"), (scale, "scale"), (wb, "wb"), (wh, "wh"))]
    nodes = [helper.make_node("MatMul", ["x", "ws"], ["s"], name="/small/MatMul"),
             helper.make_node("Mul", ["s", "scale"], ["m"], name="/big/Mul"),
             helper.make_node("MatMul", ["m", "wb"], ["b"], name="/big/MatMul"),
             helper.make_node("MatMul", ["b", "wh"], ["action"], name="/head/MatMul")]
    graph = helper.make_graph(nodes, "policy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """precision-debug also keeps its evaluations in the user's cache: each test gets its own."""
    monkeypatch.setenv("DEPLOYPROF_CACHE", str(tmp_path / "cache"))


def test_components_follow_the_name_scopes(tmp_path):
    subject = load_subject(_policy(tmp_path / "p.onnx"))
    parts = {c.name: c.nodes for c in components(subject, 1)}
    assert parts == {"small": ("/small/MatMul",), "big": ("/big/Mul", "/big/MatMul"), "head": ("/head/MatMul",)}


def test_the_breaking_component_is_ranked_first_kept_alone_and_the_mixed_graph_passes(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "debug"
    lines = []
    # INT8 ranges from 64 calibration samples: from the default 8, 4.5% of fresh inputs fall outside them and
    # below cosine 0.99 even with `big` kept, which the confirmation on fresh samples catches (next test but one).
    calib = CalibrationConfig(samples=64)
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", out, accuracy=AccuracyConfig(samples=4), calib=calib,
                        progress=lines.append)
    assert r.low.verdict == "FAIL", r.low
    assert r.components[0].component == "big" and r.components[0].share > 0.9, r.components
    assert r.passed and r.kept == ("p:big",), r.kept                  # the stage of a plain .onnx is named after it
    mixed = load_subject(out / "export-int8-mixed")
    assert mixed.manifest.precision == "int8-mixed"
    assert mixed.manifest.precision_info["kept_fp32_nodes"] == {"p": ["/big/Mul", "/big/MatMul"]}
    assert [e.kept for e in r.search][:2] == [(), ("p:big", "p:head", "p:small")]    # int8 alone, then all kept
    doc = json.loads((out / "precision-debug.json").read_text())
    assert doc["kind"] == "precision-debug" and doc["kept"] == list(r.kept)
    made = r.evaluations
    assert made == sum("kept in FP32 ->" in l and "(cached)" not in l for l in lines) and made <= 2 * 3 + 2 + 3 + 3
    # Every configuration judged was timed too, fp32 as well: the latency axis, and what keeping `big` costs
    assert r.fp32_step_ms > 0 and all(e.vs_fp32 > 0 for e in r.search) and set(r.kept_cost_ms) == {"p:big"}
    assert r.fp32_step_ms == min(e.fp32_window_ms for e in (*r.search, *(x for c in r.components
                                                                          for x in (c.only_low, c.only_kept))))
    final = next(e for e in r.search if e.kept == ("p:big",))
    # kept vs not (all int8), or 0.0 ("within noise") when the two timings' intervals overlap
    apart = final.vs_fp32_ci[0] > r.low.vs_fp32_ci[1] or r.low.vs_fp32_ci[0] > final.vs_fp32_ci[1]
    assert r.kept_cost_ms["p:big"] == (pytest.approx(r.step_ms(final) - r.step_ms(r.low)) if apart else 0.0)
    # Selected on 4 seeded samples, confirmed on 16 others (another seed), with the rate that puts on its PASS
    c = r.confirmation
    assert (c.samples, c.seed, c.verdict, c.outside) == (16, CONFIRM_SEED, "PASS", 0) and r.selection_margin == 0.5
    assert c.outside_bound == pytest.approx(1 - 0.05 ** (1 / 16))
    # ... and the rate holds on yet more fresh samples (64, a third seed): none outside the band
    from deployprof.accuracy import compare as accuracy_of
    more = accuracy_of(tmp_path / "p.onnx", out / "export-int8-mixed", samples=64, seed=CONFIRM_SEED + 10_000)
    assert more.outside / 64 <= c.outside_bound and more.verdict == "PASS"

    # The mixed export is measured as it is, like any export (bench without --precision).


    res = invoke(["bench", str(out / "export-int8-mixed"), "--iterations", "3", "--warmup", "1",
                  "--no-layer-profile", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["precision"] == "int8-mixed"
    res = invoke(["bench", str(out / "export-int8-mixed"), "--precision", "fp16"])
    assert res.exit_code == 1 and "is already int8-mixed; prepare precisions from the FP32 export" in res.output
    res = invoke(["bench", str(tmp_path / "p.onnx"), "--precision", "int8-mixed"])
    assert res.exit_code == 1 and "int8-mixed is int8 with the components `deployprof precision-debug` keeps" in res.output

    # Resumed: every evaluation comes from the run folder's cache, none is made again (here through the command,
    # which also writes the HTML page: the latency-vs-error plot and the tables).
    res = invoke(["precision-debug", str(tmp_path / "p.onnx"), "--precision", "int8", "--samples", "4",
                  "--calibration-samples", "64", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["evaluations"] == 0 and again["kept"] == list(r.kept)
    # Another run folder (a profile's, a sweep cell's) finds them in the user's cache: no search again
    elsewhere = debug_precision(tmp_path / "p.onnx", "int8", tmp_path / "elsewhere", accuracy=AccuracyConfig(samples=4),
                                calib=calib)
    assert elsewhere.evaluations == 0 and elsewhere.kept == r.kept and elsewhere.fp32_step_ms == r.fp32_step_ms
    # ... and with other settings (here: samples) it searches again
    assert debug_precision(tmp_path / "p.onnx", "int8", tmp_path / "other", accuracy=AccuracyConfig(samples=2),
                           calib=calib).evaluations
    page = (out / "precision-debug.html").read_text()
    assert "<svg" in page and "policy step vs action error" in page and "Kept in FP32 for int8-mixed" in page


def test_a_configuration_nothing_rescues_says_so_in_one_line(tmp_path, monkeypatch):
    """When even every component in FP32 fails (here: a backend whose every answer is judged FAIL, as a runtime that
    differs from the reference would be), the run ends after two evaluations with one sentence, and no mixed graph."""
    import dataclasses

    import deployprof.precision.debug as debug

    real = debug.measure
    monkeypatch.setattr(debug, "measure", lambda *a, **k: dataclasses.replace(real(*a, **k), verdict="FAIL"))
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", tmp_path / "d", accuracy=AccuracyConfig(samples=2))
    assert not r.passed and r.kept == () and r.evaluations == 2 and r.mixed_export is None
    assert r.note.startswith("int8 cannot be rescued at depth 1: even with every component in FP32 the actions FAIL")
    assert not (tmp_path / "d" / "export-int8-mixed").exists()


def _judged(monkeypatch, rule):
    """Every accuracy check's result passed through rule(check, result): a stand-in for inputs that behave
    differently, on the real graph and runtime."""
    import dataclasses

    import deployprof.precision.debug as debug

    real = debug.measure
    monkeypatch.setattr(debug, "measure", lambda check, *a, **k: rule(check, real(check, *a, **k), dataclasses.replace))


def test_a_set_that_fails_on_fresh_samples_grows_or_is_not_the_mixed_precision(tmp_path, monkeypatch):
    """The selection's PASS is biased upward (the same samples chose and judged the set): fresh samples decide. A set
    failing them grows by the next most harmful component and is confirmed on another fresh set; when every round
    fails, nothing is the mixed precision."""
    calib = CalibrationConfig(samples=64)
    failing = {CONFIRM_SEED}

    def rule(check, acc, replace):
        if check.seed in failing:
            return replace(acc, verdict="WARN", outside=3, action=replace(acc.action, cosine_min=0.97))
        return acc
    _judged(monkeypatch, rule)
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", tmp_path / "d", accuracy=AccuracyConfig(samples=2),
                        calib=calib)
    assert r.passed and len(r.kept) == 2 and "p:big" in r.kept and r.confirmation.seed == CONFIRM_SEED + 100_000
    assert "after 1 confirmation(s) on fresh samples failed" in r.note and r.mixed_export
    failing.update(CONFIRM_SEED + k * 100_000 for k in range(3))
    monkeypatch.setenv("DEPLOYPROF_CACHE", str(tmp_path / "cache2"))   # not the first run's confirmations
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", tmp_path / "e", accuracy=AccuracyConfig(samples=2),
                        calib=calib)
    assert not r.passed and len(r.kept) == 3 and r.mixed_export is None and r.final() is None
    assert r.confirmation.verdict == "WARN" and r.confirmation.outside == 3 and r.confirmation.samples == 16
    assert "passed the search's 2 samples but not 16 fresh ones" in r.note and "--calibration-samples" in r.note
    assert not (tmp_path / "e" / "export-int8-mixed").exists()


def test_the_search_selects_only_with_a_margin(tmp_path, monkeypatch):
    """A set at cosine 0.993 PASSes the 0.99 band but uses 70% of its error budget: the search keeps looking (here:
    keeps every component, the one configuration given a margin)."""
    def rule(check, acc, replace):
        if check.seed != CONFIRM_SEED and acc.verdict == "PASS" and acc.action.cosine_min < 0.9999:
            return replace(acc, action=replace(acc.action, cosine_min=0.993))
        return acc
    _judged(monkeypatch, rule)
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", tmp_path / "d", accuracy=AccuracyConfig(samples=2),
                        calib=CalibrationConfig(samples=64))
    assert any(e.verdict == "PASS" and e.cosine_min == 0.993 for e in r.search)   # seen, PASS, not taken
    assert r.passed and r.final().cosine_min > 0.995


def test_a_budget_stops_the_search_and_says_where(tmp_path):
    r = debug_precision(_policy(tmp_path / "p.onnx"), "int8", tmp_path / "d", accuracy=AccuracyConfig(samples=2),
                        max_evaluations=3)
    assert not r.passed and r.evaluations == 3 and r.note.startswith("budget spent after 3 evaluations, ranking 0 of 3")


def test_a_precision_that_already_passes_keeps_nothing_and_a_non_fp32_export_is_refused(tmp_path):
    from deployprof.errors import ConfigError
    from deployprof.precision import prepare_precision

    policy = _policy(tmp_path / "p.onnx")
    r = debug_precision(policy, "fp16", tmp_path / "d", accuracy=AccuracyConfig(samples=2))
    assert r.passed and r.kept == () and r.evaluations == 1 and "already passes" in r.note
    half = prepare_precision(policy, "fp16", tmp_path / "half")
    with pytest.raises(ConfigError, match="starts from the FP32 export"):
        debug_precision(half, "int8", tmp_path / "e")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file; expected a folder"):
        debug_precision(policy, "int8", tmp_path / "file")
    with pytest.raises(ConfigError, match="takes --precision fp16, bf16, int8, fp8, int4, got 'int8-dynamic'"):
        debug_precision(policy, "int8-dynamic", tmp_path / "e")


def test_only_components_the_low_precision_changes_are_searched():
    from deployprof.config import CalibrationConfig
    from deployprof.precision.debug import lowered_ops

    int8, fp16 = lowered_ops("int8", CalibrationConfig()), lowered_ops("fp16", CalibrationConfig())
    assert int8("MatMul") and int8("Conv") and not int8("Shape") and not int8("Range")
    assert fp16("MatMul") and not fp16("Range") and not fp16(CalibrationConfig().fp16_block_ops[0])


def test_int8_mixed_is_a_precision_like_the_others(tmp_path):
    """`profile --precisions fp32,int8,int8-mixed`: the search runs first (its run folder inside OUT), the mixed
    export is timed and judged like any precision, and the report carries the search (tables, latency-vs-error plot)."""

    from deployprof.results import ProfileReport

    from ..schema import validate

    out = tmp_path / "run"
    res = invoke(["profile", str(_policy(tmp_path / "p.onnx")), "--out", str(out), "--precisions",
                  "int8,int8-mixed", *FAST, "--accuracy-samples", "4", "--no-layer-profile", "--no-store",
                  "--calibration-samples", "64"])
    assert res.exit_code == 0, res.output
    report = ProfileReport.read(out / "report.json")
    verdicts = {r.precision: r.accuracy.verdict for r in report.runs if r.accuracy}
    assert verdicts == {"fp32": "PASS", "int8": "FAIL", "int8-mixed": "PASS"}, verdicts
    assert [d.kept for d in report.precision_debug] == [("p:big",)]
    assert report.precision_info["int8-mixed"]["kept_fp32_nodes"] == {"p": ["/big/Mul", "/big/MatMul"]}
    assert (out / "precision-debug-int8" / "export-int8-mixed" / "manifest.json").exists()
    assert any(r.precision == "int8-mixed" and r.speedup_vs_fp32 for r in report.runs)
    validate(json.loads((out / "report.json").read_text()))
    html = (out / "report.html").read_text()
    assert "policy step vs action error" in html and "Kept in FP32 for int8-mixed" in html
    assert "Kept in FP32 for int8-mixed" in (out / "report.md").read_text()

    # compare-precision and a sweep name it like any precision
    res = invoke(["compare-precision", str(tmp_path / "p.onnx"), "--precisions", "int8,int8-mixed",
                  "--samples", "4", "--json"])
    assert res.exit_code == 3 and [(a["precision"], a["verdict"]) for a in json.loads(res.stdout)["accuracy"]] == [
        ("int8", "FAIL"), ("int8-mixed", "PASS")]
    (tmp_path / "s.yaml").write_text("subjects: [p.onnx]\nprecisions: [int8-mixed]\nmeasure: {iterations: 5, "
                                      "accuracy_samples: 4, in_process: true, layer_profile: false}\n")
    res = invoke(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "sweep"), "--store",
                  str(tmp_path / "s.sqlite"), "--json"])
    assert res.exit_code == 0, res.output
    cell = json.loads(res.stdout)["entries"][0]
    assert (cell["precision"], cell["status"]) == ("int8-mixed", "done") and cell["accuracy_cosine_min"] > 0.99, cell

    # Without the accuracy check there is nothing to search with: refused before any work
    res = invoke(["profile", str(tmp_path / "p.onnx"), "--out", str(tmp_path / "x"), "--precisions",
                  "int8-mixed", "--accuracy-samples", "0", "--no-store"])
    assert res.exit_code == 1 and "drop --accuracy-samples 0" in res.output and not (tmp_path / "x").exists()


def test_fp16_overflow_in_one_component_is_found_and_fp16_mixed_passes(tmp_path):
    """The same graph with a 1e6 channel: in FP16 `big`'s scale is clamped to 65504 (and its matching weights lose
    their digits), so the cancellation breaks there and only there."""
    r = debug_precision(_policy(tmp_path / "p.onnx", outlier=1e6), "fp16", tmp_path / "d",
                        accuracy=AccuracyConfig(samples=2))
    assert r.low.verdict != "PASS" and r.components[0].component == "big", r.components
    assert r.passed and r.kept == ("p:big",)
    mixed = load_subject(tmp_path / "d" / "export-fp16-mixed")
    assert mixed.manifest.precision == "fp16-mixed" and mixed.manifest.kept_fp32("p") == ("/big/Mul", "/big/MatMul")


def test_a_timing_is_its_ratio_to_fp32_in_interleaved_blocks():
    """Load that slows both sides of a pair alike (here: everything 3x slower in every other second of simulated
    time) leaves the ratio and its interval where they are; the FP32 window's median says how loaded it was."""
    from deployprof.precision.debug import paired

    from ..measure.fake_clock import FakeClock

    clock = FakeClock()

    def cost(ms):
        def call():
            slow = 3.0 if (clock.now_ns // 1_000_000_000) % 2 else 1.0
            clock.sleep(ms * slow / 1e3)
        return call

    ratio, ci, window_ms = paired(cost(1.5), cost(1.0), clock=clock)
    assert ratio == pytest.approx(1.5, rel=1e-2) and ci[0] <= ratio <= ci[1] and ci[1] / ci[0] - 1 <= 0.10
    assert 1.0 <= window_ms <= 3.0


def test_a_component_no_module_holds_is_shown_with_its_node_names():
    """precision-debug once named its winner `denoise:(Mul)`: which Mul nodes, the reader could not tell."""
    from deployprof.report.sections import _component_name
    from deployprof.results.precision_debug import Evaluation, Sensitivity

    e = Evaluation((), "FAIL", 0.5, 1.0, 1.0, 1.0, 1.0, 1.0)
    names = tuple(f"Mul_{i}" for i in range(5))
    assert _component_name(Sensitivity("denoise", "(Mul)", 5, e, e, 0.9, names)) == \
        "(Mul): Mul_0, Mul_1, Mul_2 (+2 more)"
    assert _component_name(Sensitivity("denoise", "big", 2, e, e, 0.1)) == "big"
