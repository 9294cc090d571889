import json
from pathlib import Path

import pytest

from deployprof.errors import ModelError
from deployprof.measure.stats import compute_stats
from deployprof.config import MeasureConfig
from deployprof.results import (AccuracyResult, BuildInfo, OutputError, ColdStart, ControlLoopStats, Environment, MemoryStats,
                                ModelInfo, ProfileReport, RunResult, EngineProvenance, LayerTime, TransferTimes,
                                TelemetryStats, RooflinePrediction, RooflineStage, MemoryNeed, TrainResult, document)
from deployprof.serial import from_dict

GOLDEN = Path(__file__).parent / "data" / "report_keys.json"


def _engine() -> EngineProvenance:
    return EngineProvenance(
        cache_key="k", engine_path="e", reused_from_cache=True, onnx_path="m.onnx", onnx_sha256="ab", tensorrt_version="10.3.0",
        gpu_name="Orin", compute_capability="8.7", cuda_runtime_version="12.6", driver_version="12.6", precision="fp32",
        build_mode="FP32 graph", builder_flags=(), strongly_typed=False, speed_only=False,
        shape_profile={"x": ((1, 2), (1, 3), (1, 4))}, builder_settings={"opt_level": "None"}, build_s=2.5,
        engine_bytes=10, layer_count=3, layer_precisions={"fp32": 3}, inspector_format="bindings",
        device_memory_bytes=5, weights_bytes=7)


def make_report() -> ProfileReport:
    lat = compute_stats([0.1 * i + 1 / 3 for i in range(1, 200)])
    run = RunResult(
        stage="policy_step", backend="trt", precision="fp32", batch=1,
        build=BuildInfo("trt", "tensorrt", "10.3.0", "cuda:0 (Orin)", "fp32", "fp32", ("tensorrt",), ("tensorrt",),
                        engine=_engine()),
        latency=lat, device_latency=None, throughput_per_s=123.456789, loop_wall_s=1.0 / 3,
        cold_start=ColdStart(1.5, 2.25, 10, 3), memory=MemoryStats(10, 5, 9, "VmHWM"),
        flops_per_run=12345, achieved_gflop_per_s=0.1 / 3, stage_mean_ms={"a": 0.1, "b": 2 / 3}, glue_overhead_ms=0.01,
        control=ControlLoopStats(10.0, 100.0, 50, 100.0, 1, 0.02, 3.0, 4.0, 0.01, 0.2, 0.05, 8, 2666.6,
                                 {"1": (3.5, 3.25)}),
        transfers=TransferTimes(0.01, 0.02, 100, 200, 20, True),
        layers=(LayerTime("{ForeignNode[a...b]}", 0.5, 0.25, ("a", "b"), "policy_step", "fp16"),),
        telemetry=TelemetryStats("tegrastats", 10, 100.0, {"VDD_IN": 9000.0}, {"VDD_IN": 9500.0}, "VDD_IN", 12.5, 1.5,
                                 816.0, 1020.0, 64.0, {"gpu": 50.9}, "MAXN_SUPER", False, True, ("clocks not locked",)),
        accuracy=ACCURACY)
    return ProfileReport(
        created_utc="2026-01-01T00:00:00+00:00",
        model=ModelInfo("tiny-vla", "tiny-vla", "pi0", ("a", "b"), {"a": "x"}, {"a": 1, "b": 4}, "dynamo"),
        environment=Environment("0.1.0", "3.11", "Linux", "cpu", 2, {"onnx": "1.0", "torch": None}),
        settings=MeasureConfig(duration_s=2.0, batches=(1, 4)), flops={}, policy_step_flops=12345, runs=(run,),
        warnings=("w",), precision_info={"int8": {"calibration": {"method": "minmax"}}},
        roofline=(RooflinePrediction("rtx-4090", None, "fp16", 165.2, 1008.0, 1,
                                     (RooflineStage("a", 1, 100, 50, 0.1, 0.2, 0.2, "memory", 0.4, 0.5),), 0.2,
                                     MemoryNeed(10, 2, 3, 15, 100, 0.15, False), 0.4, 0.5, "floor"),),
        training=(TrainResult("pi0-tiny", "pi0", "flow matching", "cpu", 8, "adamw", 1e-3, None, False, 0, 100, 100, 10, 2, lat,
                              50.5, 256, 5.1, (2.0, 1.5), 1.0, None, None, 10, 30, 0.001, 0.01, "cpu", 1000, 500, None, 0),))


# The crafted run's own accuracy: cosine min 0.98, max abs 0.5 (a FAIL under the limits it was judged with).
ACCURACY = AccuracyResult("trt", "fp32", 1, "ort-cpu:fp32", 8, 1000, OutputError("x_t", 0.5, 0.1, 0.2, 0.99, 0.98, 0.3, 0.4),
                          (0.1, 0.2), (0.3,), (0.01, 0.02), "FAIL", "limits: max |error| <= 0.1, min cosine >= 0.9",
                          None, 0.1, 0.9)


def test_json_round_trip_is_exact(tmp_path):
    rep = make_report()
    rep.write(tmp_path / "report.json")
    back = ProfileReport.read(tmp_path / "report.json")
    assert back == rep
    assert isinstance(back.runs[0].latency.samples_ms, tuple) and isinstance(back.runs[0].latency.ci_ms["p50"], tuple)


def _keys(obj, prefix=""):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if prefix.endswith(("ci_ms.", "stage_mean_ms.", "packages.", "stage_sha256.", "calls_per_step.", "flops.",
                                "idle_gap_latency_ms.", "precision_info.", "shape_profile.",
                                "builder_settings.", "layer_precisions.", "options.", "power_mw_mean.",
                                "power_mw_max.", "temperature_c_max.")):
                continue
            out.append(prefix + k)
            out += _keys(v, prefix + k + ".")
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        out += _keys(obj[0], prefix + "[].")
    return out


def test_schema_matches_golden_file():
    """Fails on an accidental schema change: bump SCHEMA_VERSION and regenerate tests/data/report_keys.json."""
    keys = sorted(_keys(document(make_report())))
    assert keys == json.loads(GOLDEN.read_text())


def test_read_rejects_corrupt_and_foreign_reports(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ProfileReport.read(bad)
    bad.write_text(json.dumps({"schema_version": 999}))
    with pytest.raises(ModelError, match="schema_version"):
        ProfileReport.read(bad)
    bad.write_text(json.dumps({"schema_version": 2, "kind": "bench"}))
    with pytest.raises(ModelError, match="not a deployprof report"):
        ProfileReport.read(bad)


def test_a_schema_1_report_is_read_and_rendered(tmp_path):
    """Reports written before schema 2 (runs named their stage `target`; settings had `in_process`) still open."""
    from deployprof.report.markdown import render_markdown
    from deployprof.report.terminal import print_profile
    from rich.console import Console

    (tmp_path / "report.json").write_text((Path(__file__).parent / "data" / "report_v1.json").read_text())
    rep = ProfileReport.read(tmp_path / "report.json")
    assert {r.stage for r in rep.runs} == {"vision", "prefix", "denoise", "policy_step"}
    assert rep.settings.launcher == "inline" and rep.settings.batches == (1, 2) and rep.settings.iterations == 20
    step = {(r.backend, r.precision, r.batch): r for r in rep.runs if r.stage == "policy_step"}
    a = step["ort-cpu", "fp16", 1].accuracy  # schema 1 measured accuracy on ort-cpu at batch 1: it lands on that row
    assert step["ort-cpu", "fp16", 2].accuracy is None
    assert rep.roofline and a.reference == "ort-cpu:fp32" and a.verdict == "PASS" and a.action.p99_abs is None
    assert step["ort-cpu", "fp32", 1].accuracy is None
    con = Console(record=True, width=200)
    print_profile(rep, con)
    assert "Summary: policy_step" in con.export_text() and "Summary: policy_step" in render_markdown(rep)


@pytest.mark.parametrize("old, device", [({"device_id": 0, "torch_device": "cpu"}, None),
                                         ({"device_id": 1, "torch_device": "cpu"}, "cuda:1"),
                                         ({"device_id": 0, "torch_device": "cuda"}, "cuda")])
def test_a_schema_2_report_keeps_its_device(tmp_path, old, device):
    """Schema 2 held the device as device_id and torch_device; schema 3 has one `device` field."""
    doc = document(make_report())
    options = doc["settings"]["backend_options"]
    del options["device"]
    options.update(old)
    (tmp_path / "report.json").write_text(json.dumps({**doc, "schema_version": 2}))
    assert ProfileReport.read(tmp_path / "report.json").settings.backend_options.device == device


def test_from_dict_builds_nested_types():
    ms = from_dict(MemoryStats, {"host_peak_rss_bytes": 1, "host_rss_before_load_bytes": 0,
                                 "host_rss_sampled_peak_bytes": 1, "host_method": "x"})
    assert ms.device_peak_bytes is None
