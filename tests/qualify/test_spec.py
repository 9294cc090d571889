import pytest

from deployprof.errors import ConfigError
from deployprof.qualify.spec import EXAMPLE, load_spec, parse_spec


def test_one_line_spec():
    s = parse_spec({"latency_ms": {"p99": 50}})
    assert s.latency_ms == {"p99": 50.0} and s.criteria_count() == 1 and s.control_budget_ms is None


def test_the_documented_example_parses_completely(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(EXAMPLE)
    s = load_spec(path)
    assert s.control_budget_ms == pytest.approx(800.0)  # chunk of 8 at 10 Hz lasts 0.8 s
    assert (s.deadline_miss_rate, s.host_peak_mib, s.headroom_pct, s.min_cosine, s.max_abs_error) == (0.01, 4000, 30, 0.99, 0.05)
    assert s.backends == ("trt", "ort-cuda") and s.precisions == ("fp16", "fp32") and s.target == "jetson-agx-orin-64gb"


@pytest.mark.parametrize("data,match", [
    ({}, "no criterion"), ([1], "YAML mapping"), ({"latency": {"p99": 5}}, "unknown key"),
    ({"latency_ms": {"p98": 5}}, "unknown key.*p98"), ({"latency_ms": {"p99": -1}}, "latency_ms.p99 must be a number > 0"),
    ({"latency_ms": {"p99": "fast"}}, "must be a number"), ({"control": {"chunk": 8}}, "needs rate_hz"),
    ({"control": {"rate_hz": 10, "chunk": 2.5}}, "must be an integer"), ({"deadline_miss_rate": 1.5}, r"\[0, 1\)"),
    ({"memory": {"headroom_pct": 150}}, r"in \(0, 100\]"), ({"accuracy": {"min_cosine": 2}}, "min_cosine"),
    ({"latency_ms": {"p99": 5}, "backends": ["tensorrt"]}, "unknown tensorrt"),
    ({"latency_ms": {"p99": 5}, "precisions": ["fp5"]}, "unknown fp5"), ({"precisions": ["nvfp4"]}, "Model Optimizer"), ({"latency_ms": {"p99": True}}, "must be a number"),
])
def test_bad_specs_say_what_was_expected(data, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(data)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="spec not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("latency_ms: {p99: 50")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_spec(bad)
    bad.write_text("latency_ms: {p42: 50}")
    with pytest.raises(ConfigError, match=r"bad.yaml: spec: latency_ms has unknown key\(s\) p42"):
        load_spec(bad)
