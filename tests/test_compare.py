import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from deployprof.cli import cli
from deployprof.errors import ConfigError
from deployprof.measure.stats import compute_stats
from deployprof.compare import compare_reports

from .test_results import make_report


def _rep(mean_ms, precision="fp32", sd=0.05, n=500, seed=0):
    base = make_report()
    lat = compute_stats(list(np.random.default_rng(seed).normal(mean_ms, sd, n)))
    return dataclasses.replace(base, runs=(dataclasses.replace(base.runs[0], precision=precision, latency=lat),))


def test_slower_run_is_a_regression_only_when_the_intervals_separate():
    c = compare_reports(_rep(2.0), _rep(2.4, seed=1))
    (run,) = c.runs
    p50 = run.metrics[0]
    assert p50.verdict == "regression" and 15 < p50.delta_pct < 25 and p50.delta_ci_pct[0] > 0
    assert c.regressions and c.threshold_pct is None
    assert compare_reports(_rep(2.0), _rep(2.4, seed=1), threshold_pct=10.0).regressions
    assert not compare_reports(_rep(2.0), _rep(2.4, seed=1), threshold_pct=30.0).regressions
    same = compare_reports(_rep(2.0), _rep(2.0, seed=1))
    assert all(m.verdict == "within noise" for m in same.runs[0].metrics) and not same.regressions
    assert compare_reports(_rep(2.4), _rep(2.0, seed=1)).runs[0].metrics[0].verdict == "improvement"


def test_noisy_runs_with_few_samples_are_not_called_regressions():
    c = compare_reports(_rep(2.0, sd=1.0, n=30), _rep(2.2, sd=1.0, n=30, seed=1))
    assert all(m.verdict == "within noise" for m in c.runs[0].metrics)


def test_precisions_line_up_when_told_to_ignore_them():
    c = compare_reports(_rep(2.0), _rep(1.5, "fp16"))
    assert not c.runs and c.only_a and c.only_b
    assert len(compare_reports(_rep(2.0), _rep(1.5, "fp16"), ignore=("precision",)).runs) == 1
    with pytest.raises(ConfigError, match="--ignore"):
        compare_reports(_rep(2.0), _rep(2.0), ignore=("target",))


def test_cli_exit_codes_for_ci(tmp_path):
    for name, rep in (("a", _rep(2.0)), ("b", _rep(2.4, seed=1)), ("c", _rep(2.0, seed=2))):
        (tmp_path / name).mkdir()
        rep.write(tmp_path / name / "report.json")
    r = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression", "5"])
    assert r.exit_code == 3 and "regression" in r.output
    r = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "c"), "--fail-on-regression", "5"])
    assert r.exit_code == 0 and "no statistically meaningful slowdown" in r.output
    r = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["regressions"][0]["metric"] == "p50"
    r = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "missing")])
    assert r.exit_code == 1 and r.output.startswith("error: report not found")


def test_the_delta_interval_is_the_ratios_and_the_table_names_a_and_b():
    """'-5.5% [-134.3, +13.9]' was printed for a latency: the CI ends' difference over A's point value."""
    from deployprof.report.sections import comparison_table

    wide = _rep(2.0, sd=1.5, n=40, seed=3)  # few, spread samples: a wide B interval
    c = compare_reports(_rep(2.0), wide, names=("a/report.json", "b/report.json"))
    for m in c.runs[0].metrics:
        lo, hi = m.delta_ci_pct
        assert -100 <= lo <= m.delta_pct <= hi
    assert "B = b/report.json; A = a/report.json" in comparison_table(c).title
