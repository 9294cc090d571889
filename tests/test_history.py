"""History across commits and the stored baseline gate, end to end through the CLI on a real tiny export."""
import dataclasses
import json

from deployprof.results import ProfileReport

from .conftest import invoke


def _profile(export, out, store, commit):
    r = invoke(["profile", str(export), "--out", str(out), "--duration", "0.3", "--in-process",
                "--accuracy-samples", "2", "--store", str(store), "--commit", commit])
    assert r.exit_code == 0, r.output
    return out


def test_two_commits_show_up_in_history_with_a_trend_plot(tiny_export, tmp_path):
    store = tmp_path / "r.sqlite"
    for commit in ("c1", "c2"):
        _profile(tiny_export, tmp_path / commit, store, commit)
    r = invoke(["history", "--store", str(store), "--json", "--html", str(tmp_path / "h.html")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kind"] == "history" and [row["commit"] for row in doc["rows"]] == ["c1", "c2"]
    assert {row["stage"] for row in doc["rows"]} == {"policy_step"}
    assert all(row["p50_ci_ms"][0] <= row["p50_ms"] <= row["p50_ci_ms"][1] for row in doc["rows"])
    html = (tmp_path / "h.html").read_text()
    assert html.count("<svg class=\"plot\"") == 2 and "fill-opacity" in html  # latency with CI bands, accuracy
    r = invoke(["history", "--store", str(store), "--commit", "c2", "--backend", "ort-cpu"])
    assert r.exit_code == 0 and " c2 " in r.output and " c1 " not in r.output


def test_history_tells_rate_runs_from_back_to_back_ones_also_in_a_schema_1_store(tiny_export, tmp_path):
    """A --rate run beside back-to-back runs of the same configuration is its own series, with a mode column; a
    store written before the column existed gets it filled from its documents."""
    from sqlalchemy import text

    from deployprof.store import Store, to_url

    store = tmp_path / "r.sqlite"
    base = _profile(tiny_export, tmp_path / "c1", store, "c1")
    doc = json.loads((base / "report.json").read_text())
    for run in doc["runs"]:
        run["control"] = {"rate_hz": 30.0}
    doc["created_utc"] += "x"
    with Store(to_url(str(store))) as s:
        s.add(doc, commit="c2")
        with s.engine.begin() as conn:   # back to schema 1: no mode column
            conn.execute(text("ALTER TABLE runs DROP COLUMN mode"))
            conn.execute(text("UPDATE deployprof_meta SET value = '1' WHERE key = 'schema_version'"))
    with Store(to_url(str(store))):
        pass
    r = invoke(["history", "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output
    assert [(row["commit"], row["mode"]) for row in json.loads(r.stdout)["rows"]] == [("c1", "back-to-back"),
                                                                                       ("c2", "rate 30 Hz")]
    r = invoke(["history", "--store", str(store)], terminal_width=200)
    assert " mode " in r.output and "rate 30 Hz" in r.output and "back-to-back" in r.output, r.output


def _slowed(report: ProfileReport, factor: float, out, commit_note: str):
    """The same run with every latency sample (and statistic) scaled: a controlled slowdown, or none with 1.0. Not
    flagged (a busy machine while the test profiled, load changed): the gate's arithmetic is under test here, and a
    flagged run never makes a call on its own (tests/test_compare.py)."""
    from deployprof.measure.stats import compute_stats

    def steady(samples):
        return dataclasses.replace(compute_stats(samples), noisy=False, drift_ratio=0.0, too_few_samples=())

    runs = tuple(dataclasses.replace(r, latency=steady([s * factor for s in r.latency.samples_ms]), load=None)
                 for r in report.runs)
    slowed = dataclasses.replace(report, runs=runs, created_utc=report.created_utc + commit_note)
    out.mkdir()
    slowed.write(out / "report.json")
    return out


def test_compare_against_the_stored_baseline_gates_a_slowdown_only(tiny_export, tmp_path):
    from deployprof.results import document
    from deployprof.store import Store

    store = tmp_path / "r.sqlite"
    base = _profile(tiny_export, tmp_path / "base", store, "c1")
    report = ProfileReport.read(base / "report.json")
    # The baseline is found in the store, and the run itself is never its own baseline:
    r = invoke(["compare", "--baseline", "store:", str(base), "--store", str(store)])
    assert r.exit_code == 1 and "no stored profile matches" in r.output
    # One stored run says nothing of the spread between runs: a +30% run is shown, not judged, and does not fail.
    slow = _slowed(report, 1.3, tmp_path / "slow", "-slow")
    r = invoke(["compare", "--baseline", "store:", str(slow), "--store", str(store), "--json",
                "--fail-on-regression", "10"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["runs"][0]["metrics"][0]["verdict"] == "unknown"
    # Four more stored runs of the same work, a few % apart: their spread is the noise floor.
    with Store(f"sqlite:///{store}") as s:
        for i, f in enumerate((0.97, 1.02, 0.99, 1.03)):
            s.add(document(ProfileReport.read(_slowed(report, f, tmp_path / f"h{i}", f"-h{i}") / "report.json")),
                  commit=f"c{i + 2}")
    same = _slowed(report, 1.0, tmp_path / "same", "-rerun")
    r = invoke(["compare", "--baseline", "store:", str(same), "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)
    assert c["regressions"] == [] and c["runs"][0]["metrics"][0]["basis"] == "history"
    assert c["runs"][0]["metrics"][0]["runs_a"] == 5 and "spread of 5 stored runs" in c["a"]
    r = invoke(["compare", "--baseline", "store:", str(slow), "--store", str(store), "--json",
                "--fail-on-regression", "10"])
    assert r.exit_code == 3, r.output
    c = json.loads(r.stdout)
    assert c["a"].startswith("store result 5 (c5,") and {x["metric"] for x in c["regressions"]} >= {"p50"}
    # Without --fail-on-regression the store gate still gates, at the noise threshold.
    r = invoke(["compare", "--baseline", "store:", str(slow), "--store", str(store)])
    assert r.exit_code == 3 and "regression(s): slower by more than 2%" in r.output


def test_compare_arguments_are_checked():
    r = invoke(["compare", "a"])
    assert r.exit_code == 1 and "compare takes two reports A B" in r.output
    r = invoke(["compare", "--baseline", "latest", "a"])
    assert r.exit_code == 1 and "--baseline store:QUERY takes one RUN" in r.output
