"""Small things a first qualification hit (issue 28, item 13), each once wrong."""
import yaml

from deployprof.files import RUN_MARKER
from deployprof.qualify.spec import parse_spec
from deployprof.report import sections

from .test_results import make_report
from .conftest import FAST, invoke


def test_policy_step_breakdown_names_its_columns():
    t = sections.stage_table(make_report().runs)
    assert t.header == ("run", "a", "b", "host glue") and all(h for h in t.header)
    assert t.rows[0][1:] == ("0.100", "0.667", "0.010")


def test_example_spec_is_a_valid_commented_spec():
    res = invoke(["qualify", "--example-spec"])
    assert res.exit_code == 0 and res.output.startswith("#")
    assert parse_spec(yaml.safe_load(res.output)).latency_ms == {"p99": 50.0}
    res = invoke(["qualify"])
    assert res.exit_code == 2 and "--example-spec" in res.output


def test_qualify_on_an_interrupted_folder_says_so(tmp_path):
    (tmp_path / RUN_MARKER).write_text("deployprof profile x")
    (tmp_path / "spec.yaml").write_text("latency_ms: {p99: 50}\n")
    res = invoke(["qualify", "--spec", str(tmp_path / "spec.yaml"), str(tmp_path), "--no-store"])
    assert res.exit_code == 1 and "holds an interrupted run" in res.output and "neither" not in res.output


def test_a_backend_without_the_precision_says_so(tiny_export, tmp_path):
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "p"), "--backends", "ort-cpu,torch",
                  "--precisions", "fp16", *FAST, "--accuracy-samples", "0", "--no-store"])
    assert res.exit_code == 0, res.output
    assert "torch has no fp16 here (it runs fp32, bf16): not measured at fp16" in res.output
