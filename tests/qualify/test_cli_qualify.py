"""A real verdict on the tiny preset measured on this CPU, through the CLI, with its exit codes."""
import json

from ..conftest import invoke




def test_qualify_a_real_cpu_profile_and_an_export(tiny_export, tmp_path):
    out = tmp_path / "profile"
    res = invoke(["profile", str(tiny_export), "--out", str(out), "--iterations", "800", "--threads", "1",
                  "--target", "cpu"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    (pred,) = report["roofline"]
    assert pred["target"] == "cpu" and pred["measured_step_p50_ms"] > pred["step_lower_bound_ms"] > 0
    assert 0 < pred["step_efficiency"] < 1
    generous, strict, bad = (tmp_path / n for n in ("generous.yaml", "strict.yaml", "bad.yaml"))
    generous.write_text("latency_ms: {p50: 1000, p99: 1000}\nmemory: {host_peak_mib: 4000}\n")
    strict.write_text("latency_ms: {p50: 0.001}\n")
    bad.write_text("latency_ms: {p99: fast}\n")
    res = invoke(["qualify", "--spec", str(generous), str(out)])
    assert res.exit_code == 0 and "PASS (measured" in res.output, res.output
    # A run on this CPU judged for a Jetson: never PASS there, and the device it was measured on is said.
    nano = tmp_path / "nano.yaml"
    nano.write_text("target: jetson-orin-nano-8gb\nlatency_ms: {p99: 500}\nmemory: {headroom_pct: 10}\n")
    res = invoke(["qualify", "--spec", str(nano), str(out), "--json"])
    q = json.loads(res.stdout)
    assert res.exit_code == 3 and q["status"] == "INCONCLUSIVE" and q["measured_on"][0].endswith("(cpu)")
    assert all(c["status"] == "INCONCLUSIVE" and "not on jetson-orin-nano-8gb" in c["detail"]
               for c in q["configs"][0]["criteria"])
    res = invoke(["qualify", "--spec", str(nano), str(out)])
    assert "INCONCLUSIVE (measured on" in res.output and "(cpu); target jetson-orin-nano-8gb" in res.output
    assert "deployprof predict EXPORT --target jetson-orin-nano-8gb" in res.output
    res = invoke(["qualify", "--spec", str(strict), str(out / "report.json"), "--json"])
    assert res.exit_code == 3 and json.loads(res.stdout)["status"] == "FAIL"
    res = invoke(["qualify", "--spec", str(bad), str(out)])
    assert res.exit_code == 1 and res.output.startswith("error:") and "latency_ms.p99 must be a number" in res.output
    res = invoke(["qualify", "--spec", str(generous), str(tiny_export), "--target", "jetson-orin-nano-8gb"])
    assert res.exit_code == 3 and "INCONCLUSIVE (predicted on jetson-orin-nano-8gb" in res.output
    res = invoke(["qualify", "--spec", str(generous), str(tiny_export)])
    assert res.exit_code == 1 and "needs a target" in res.output
    res = invoke(["predict", str(tiny_export), "--target", "rtx-4090", "--json"])
    assert res.exit_code == 0 and [p["precision"] for p in json.loads(res.stdout)["predictions"]] == ["fp32", "fp16", "int8"]
