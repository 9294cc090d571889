"""trtexec as a witness, on the CPU: its summary parsed from samples of each TensorRT generation, and the cross-check
run against a fake trtexec on PATH that prints such a sample and records how it was called."""
import dataclasses
import os
import stat
from pathlib import Path

import pytest

from deployprof.engine.trtexec import command, parse
from deployprof.errors import ConfigError
from deployprof.measure.stats import compute_stats
from deployprof.findings import run_warnings
from deployprof.pipeline import cross_check

from ..test_results import make_report
from ..conftest import invoke

DATA = Path(__file__).resolve().parents[1] / "data" / "trtexec"


@pytest.mark.parametrize("sample, median, p99", [("trt86", 0.558105, 0.624512), ("trt10", 0.381836, 0.416992),
                                                 ("trt11", 0.318604, 0.346191)])
def test_the_summary_of_each_generation_parses(sample, median, p99):
    s = parse((DATA / f"{sample}.txt").read_text())
    assert s["GPU Compute Time"]["median"] == median and s["GPU Compute Time"]["p99"] == p99
    assert s["Throughput"]["qps"] > 0 and s["Latency"]["p90"] > s["GPU Compute Time"]["p90"]


def test_an_output_without_gpu_compute_time_is_one_clear_error():
    with pytest.raises(ConfigError, match="no GPU compute time.*Engine deserialization failed"):
        parse("[I] Loading engine\n[E] Engine deserialization failed\n")


def test_the_command_replays_our_engine_shapes_and_graph_setting():
    cmd = command("trtexec", "/c/e.engine", {"x": (1, 3, 224, 224), "t": (1,)}, cuda_graph=True)
    assert cmd[:2] == ["trtexec", "--loadEngine=/c/e.engine"] and "--shapes=x:1x3x224x224,t:1" in cmd
    assert "--useCudaGraph" in cmd and "--useSpinWait" in cmd


def _fake_trtexec(tmp_path, monkeypatch, sample="trt10"):
    bin_dir, log = tmp_path / "bin", tmp_path / "args.txt"
    bin_dir.mkdir()
    exe = bin_dir / "trtexec"
    exe.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncat {DATA / sample}.txt\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_cross_check_puts_trtexec_beside_our_device_time_and_warns_when_they_disagree(tmp_path, monkeypatch):
    log = _fake_trtexec(tmp_path, monkeypatch)
    run = make_report().runs[0]  # a trt run with engine provenance (opt shape of x: 1x3)
    agree = dataclasses.replace(run, device_latency=compute_stats([0.3818] * 10 + [0.3820] * 10))
    off = dataclasses.replace(run, device_latency=compute_stats([0.45] * 20), cuda_graph=True)
    (a, b) = cross_check([agree, off])
    assert a.witness.gpu_compute_median_ms == 0.381836 and a.witness.agrees and 0.98 <= a.witness.ratio <= 1.02
    assert b.witness.agrees is False and b.witness.ratio == pytest.approx(0.45 / 0.381836)
    calls = log.read_text().splitlines()
    assert "--loadEngine=e" in calls[0] and "--shapes=x:1x3" in calls[0] and "--useCudaGraph" in calls[1]
    assert any("trtexec disagrees" in w for w in run_warnings([a, b], {}))
    assert not any("trtexec disagrees" in w for w in run_warnings([a], {}))


def test_cross_check_asks_for_the_trt_backend_and_for_trtexec(tiny_export):
    res = invoke(["bench", str(tiny_export), "--cross-check", "trtexec", "--iterations", "1"])
    assert res.exit_code == 1 and "error: --cross-check trtexec re-times the engines of the trt backend" in res.output
