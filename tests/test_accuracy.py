"""Accuracy belongs to the configuration that was timed: a backend that perturbs its outputs by a known amount
shows that error in its own row only, and qualify judges each configuration on its own numbers."""
import json

import numpy as np
import pytest

from deployprof.bands import BANDS, verdict
from deployprof.backends import BACKENDS
from deployprof.errors import ConfigError
from deployprof.results import OutputError, ProfileReport

from .conftest import FAST, invoke

DELTA = 0.1   # added to every denoising velocity: about DELTA of action error (Euler over [1, 0], and what follows)


@pytest.fixture
def perturbed(monkeypatch):
    base = BACKENDS.get("ort-cpu")

    class Perturbed(base):
        name = "perturbed"

        def _run(self, feeds):
            out = super()._run(feeds)
            if self.stage.name == "denoise":
                out = {k: v + np.asarray(DELTA, v.dtype) for k, v in out.items()}
            return out

    monkeypatch.setitem(BACKENDS._items, "perturbed", Perturbed)
    return Perturbed


def _profile(tmp_path, export, *extra):
    res = invoke(["profile", str(export), "--out", str(tmp_path / "r"), "--backends", "ort-cpu,perturbed",
                  *FAST, "--accuracy-samples", "3", *extra])
    assert res.exit_code == 0, res.output
    return ProfileReport.read(tmp_path / "r" / "report.json")


def test_each_row_carries_the_accuracy_of_its_own_backend(tiny_export, tmp_path, perturbed):
    rep = _profile(tmp_path, tiny_export, "--precisions", "fp16", "--batch", "1,2")
    acc = {(r.backend, r.precision, r.batch): r.accuracy for r in rep.runs if r.stage == "policy_step"}
    assert set(acc) == {(b, p, n) for b in ("ort-cpu", "perturbed") for p in ("fp32", "fp16") for n in (1, 2)}
    for (backend, precision, batch), a in acc.items():
        assert (a.backend, a.precision, a.batch, a.reference, a.samples) == (backend, precision, batch, "ort-cpu:fp32", 3)
    assert acc["ort-cpu", "fp32", 1].action.max_abs == 0.0  # the reference runtime against itself
    for n in (1, 2):
        own = acc["perturbed", "fp32", n].action
        assert DELTA / 2 < own.mean_abs <= own.max_abs < 2 * DELTA
        assert acc["ort-cpu", "fp16", n].action.max_abs < DELTA / 2 < acc["perturbed", "fp16", n].action.max_abs
    assert all(len(a.per_denoise_step_mean_abs) == 4 for a in acc.values())
    stored = json.loads((tmp_path / "r" / "report.json").read_text())
    step = next(r for r in stored["runs"] if r["backend"] == "perturbed" and r["stage"] == "policy_step")
    assert step["accuracy"]["backend"] == "perturbed" and step["accuracy"]["reference"] == "ort-cpu:fp32"
    assert all(r["accuracy"] is None for r in stored["runs"] if r["stage"] != "policy_step")


def test_qualify_judges_each_configuration_on_its_own_accuracy(tiny_export, tmp_path, perturbed):
    _profile(tmp_path, tiny_export)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"accuracy: {{max_abs_error: {DELTA / 2}}}\n")
    res = invoke(["qualify", "--spec", str(spec), str(tmp_path / "r"), "--json"])
    q = json.loads(res.stdout)
    status = {(c["backend"], c["precision"]): c["status"] for c in q["configs"]}
    assert status == {("ort-cpu", "fp32"): "PASS", ("perturbed", "fp32"): "FAIL"}
    assert res.exit_code == 0 and q["status"] == "PASS"  # one configuration qualifies


def test_default_bands_and_given_limits():
    err = lambda cos, mx=0.1: OutputError("a", mx, 0.01, 0.02, cos, cos)  # noqa: E731
    assert verdict(err(0.995), None, None) == ("PASS", BANDS)
    assert verdict(err(0.97), None, None)[0] == "WARN" and verdict(err(0.9), None, None)[0] == "FAIL"
    assert verdict(err(0.9), None, 0.8) == ("PASS", "limits: min cosine >= 0.8")
    assert verdict(err(0.999, mx=0.5), 0.1, None)[0] == "FAIL"


def test_reference_must_be_fp32_on_a_known_backend():
    from deployprof.config import AccuracyConfig, Settings
    from deployprof.pipeline import plan_profile

    assert AccuracyConfig("torch:fp32").reference_backend == "torch"
    for bad in ("ort-cpu", "ort-cpu:fp16", ":fp32"):
        with pytest.raises(ConfigError, match="--reference expects BACKEND:fp32"):
            AccuracyConfig(bad)
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        plan_profile("tiny-vla", ["ort-cpu"], Settings(accuracy=AccuracyConfig("nope:fp32")), say=lambda s: None)


def test_compare_precision_on_a_chosen_backend(tiny_export, perturbed):
    res = invoke(["compare-precision", str(tiny_export), "--precisions", "fp32,fp16", "--backend",
                  "perturbed", "--samples", "2", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["reference"] == "ort-cpu:fp32" and [a["backend"] for a in d["accuracy"]] == ["perturbed", "perturbed"]
    assert DELTA / 2 < d["accuracy"][0]["action"]["max_abs"] < 2 * DELTA


def test_limits_per_action_dimension_decide_and_name_the_dimension():
    """Per-joint limits in robot units (issue 45): the worst error of each dimension against its own limit, the
    verdict naming the dimension that failed, with or without the cosine bands."""
    from types import SimpleNamespace

    from deployprof.bands import passes, verdict

    err = SimpleNamespace(max_abs=0.3, cosine_min=0.999)       # the bands alone would PASS
    dims = (0.01, 0.3, 0.02)
    assert verdict(err, None, None) == ("PASS", verdict(err, None, None)[1])
    status, rule = verdict(err, None, None, dims, (0.05, 0.05, 0.05))
    assert status == "FAIL" and "dimension 1 |error| 0.3 > 0.05" in rule and "dimension 0" not in rule
    status, rule = verdict(err, None, None, dims, (0.05, 0.5, 0.05))
    assert status == "PASS" and rule.startswith("limits:")
    # from a checkpoint's statistics: beside the bands, not instead of them
    status, rule = verdict(SimpleNamespace(max_abs=0.3, cosine_min=0.97), None, None, dims, (1, 1, 1), "0.1 x std")
    assert status == "WARN" and "0.1 x std" in rule and "default bands" in rule
    assert verdict(err, None, None, dims, (1, 0.1, 1), "0.1 x std")[0] == "FAIL"
    assert not passes(0.999, 0.3, None, None, dim_max=dims, atol_per_dim=(1, 0.2, 1))
    assert passes(0.999, 0.3, None, None, dim_max=dims, atol_per_dim=(1, 0.4, 1))


def test_per_joint_limits_on_a_measured_policy(tiny_export, tmp_path):
    import dataclasses
    import shutil

    from deployprof.accuracy import compare
    from deployprof.errors import ConfigError
    from deployprof.manifest import load_subject
    from deployprof.precision import prepare_precision

    int8 = prepare_precision(tiny_export, "int8", tmp_path / "int8")
    loose = compare(tiny_export, int8, samples=2)
    worst = loose.per_action_dim_max_abs
    assert len(worst) == 7 and loose.atol_per_dim == () and loose.failed_dims == ()
    limits = tuple(w * 2 for w in worst[:3]) + tuple(w / 2 for w in worst[3:])   # dimensions 3.. too tight
    r = compare(tiny_export, int8, samples=2, atol_per_dim=limits)
    assert r.verdict == "FAIL" and r.failed_dims == (3, 4, 5, 6) and "dimension 3" in r.rule
    assert r.atol_per_dim_source == "given"
    assert compare(tiny_export, int8, samples=2, atol_per_dim=tuple(w * 2 for w in worst)).verdict == "PASS"
    with pytest.raises(ConfigError, match="gives 3 limits, but the policy's actions have 7"):
        compare(tiny_export, int8, samples=2, atol_per_dim=(1, 1, 1))
    # a checkpoint's action statistics (LeRobot) give the default limits: a tenth of each std
    stats = tmp_path / "with-stats"
    shutil.copytree(int8, stats)
    m, _ = load_subject(stats)
    dataclasses.replace(m, action_std=tuple(w * 20 for w in worst[:6]) + (worst[6],)).write(stats)
    r = compare(tiny_export, stats, samples=2)
    assert r.atol_per_dim_source.startswith("0.1 x") and r.failed_dims == (6,) and r.verdict == "FAIL"


def test_atol_option_takes_one_limit_or_one_per_dimension():
    from deployprof.config import parse_limits
    from deployprof.errors import ConfigError

    assert parse_limits("0.05") == (0.05,) and parse_limits("0.01, 0.02,0.5") == (0.01, 0.02, 0.5)
    for bad in ("", "a,b", "-1", "nan", "0.1,,-2"):
        with pytest.raises(ConfigError, match="--atol expects"):
            parse_limits(bad)
