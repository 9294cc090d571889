"""Scripts that only run on other machines (the GPU check) still have their pure parts tested here."""
import importlib.util
import json
from pathlib import Path

import pytest

from .conftest import FAST, invoke


ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_summary_labels_runs_without_device_time(tiny_export, tmp_path, capsys):
    """The summary once dropped the file, stage and host latency of every run without CUDA-event time."""
    res = invoke(["bench", str(tiny_export), "--json", *FAST])
    (tmp_path / "bench_ort_cpu.json").write_text(res.stdout)
    runs = json.loads(res.stdout)["runs"]
    _load("gpu_summary").main(tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(runs) == 4
    for line, r in zip(lines, runs):
        assert line.startswith("bench_ort_cpu.json") and r["stage"] in line and "host p50" in line
        assert "no device time" in line and f"n {r['latency']['count']}" in line


def test_gpu_overhead_benchmark_says_when_there_is_no_gpu(tiny_export, capsys, monkeypatch):
    from deployprof.devices import cuda_device_count

    if cuda_device_count():
        pytest.skip("this machine has a CUDA device: scripts/gpu_check.sh runs the benchmark itself")
    monkeypatch.setattr("sys.argv", ["bench_gpu_overhead.py", str(tiny_export)])
    _load("bench_gpu_overhead").main()
    assert "no CUDA device: the GPU overhead benchmark did not run" in capsys.readouterr().out
