"""--repeats N: independent repetitions of each configuration, folded into one result that keeps every repetition."""
import json

from ..test_compare import _chain
from ..conftest import invoke


def test_bench_repeats_keeps_every_repetition_and_its_between_run_interval(tmp_path):
    model = _chain(tmp_path / "m.onnx", 4)
    r = invoke(["bench", str(model), "--backend", "ort-cpu", "--repeats", "3", "--iterations", "30",
                "--warmup", "2", "--no-layer-profile", "--in-process", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (run,) = doc["runs"]
    rep = run["repeats"]
    assert rep["count"] == 3 and len(rep["values_ms"]["p50"]) == 3 and run["latency"]["count"] == 90
    lo, hi = rep["between_ci_ms"]["p50"]
    assert lo <= run["latency"]["p50_ms"] * 1.5 and lo <= hi and rep["spread_pct"]["p50"] >= 0
    assert doc["settings"]["repeats"] == 3
    assert run["load"]["cores"] >= 1 and run["load"]["other_cores_during"] >= 0   # the machine's load is recorded
    r = invoke(["bench", str(model), "--backend", "ort-cpu", "--repeats", "0"])
    assert r.exit_code == 2 and "--repeats" in r.output


def test_cpus_pins_the_measuring_process_and_bad_lists_are_one_error(tmp_path):
    import os

    model = _chain(tmp_path / "m.onnx", 2)
    first = min(os.sched_getaffinity(0))
    r = invoke(["bench", str(model), "--backend", "ort-cpu", "--iterations", "5", "--warmup", "1",
                "--no-layer-profile", "--cpus", str(first), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["settings"]["cpus"] == [first]
    for bad, says in (("x", "expects CPU numbers or ranges"), ("4096", "may run on CPUs")):
        r = invoke(["bench", str(model), "--backend", "ort-cpu", "--cpus", bad])
        assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output
