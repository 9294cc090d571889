"""The walking skeleton through click's runner, and the one-line errors."""
import json

import numpy as np
import onnx
import pytest
from deployprof.cli import cli
from deployprof.results import ProfileReport

from .conftest import FAST, invoke


def test_version_and_help():
    assert invoke("--version").output.startswith("deployprof, version")
    assert "profile" in invoke("--help").output


def test_the_listing_is_each_command_s_own_help_without_loading_any():
    """`deployprof --help` lists the commands from cli.COMMANDS; each entry is its command's own first sentence, and
    listing them imports no command's module, nor the store or a result record (it once took twice as long)."""
    import subprocess
    import sys

    from deployprof.cli import COMMANDS

    for name, (_, _, summary) in COMMANDS.items():
        assert summary == cli.get_command(None, name).get_short_help_str(10**6), name
    code = ("import sys; from click.testing import CliRunner; from deployprof.cli import cli; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.startswith(('deployprof.cli.', 'deployprof.store', "
            "'deployprof.environment', 'deployprof.results.'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_backends_lists_every_backend_with_reason():
    out = invoke("backends").output
    for name in ("ort-cpu", "ort-cuda", "ort-trt", "trt", "torch"):
        assert name in out
    assert "tensorrt" in out.lower()


def test_profile_tiny_vla_end_to_end(tmp_path):
    """Export, count, measure in a separate process, write a report with real numbers."""
    out = tmp_path / "out"
    res = invoke("profile", "tiny-vla", "--out", out, "--iterations", "30", "--warmup", "3", "--warmup-time", "0")
    assert res.exit_code == 0, res.output
    assert "report:" in res.output and "policy_step" in res.output
    rep = ProfileReport.read(out / "report.json")
    assert rep.model.stages == ("vision", "prefix", "denoise") and rep.model.calls_per_step["denoise"] == 4
    step = next(r for r in rep.runs if r.stage == "policy_step")
    assert step.latency.count == 30 and len(step.latency.samples_ms) == 30
    assert 0 < step.latency.min_ms <= step.latency.p50_ms <= step.latency.p99_ms <= step.latency.max_ms
    assert step.throughput_per_s > 0 and step.memory.host_peak_rss_bytes > 20 * 2**20
    assert step.memory.host_peak_rss_bytes >= step.memory.host_rss_before_load_bytes
    assert step.build.providers_active == ("CPUExecutionProvider",) and not step.build.fallback
    assert rep.policy_step_flops == sum(rep.flops[s].flops_total * n for s, n in rep.model.calls_per_step.items())
    assert step.flops_per_run == rep.policy_step_flops and step.achieved_gflop_per_s > 0
    assert set(step.stage_mean_ms) == {"vision", "prefix", "denoise"}
    assert not any(f.lower_bound for f in rep.flops.values())


def test_bench_json_keys(tiny_export):
    res = invoke("bench", tiny_export, "--json", *FAST, "--iterations", "20")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["kind"] == "bench" and d["backend"] == "ort-cpu" and d["settings"]["iterations"] == 20
    step = d["runs"][-1]
    assert {"p50_ms", "p99_ms", "p999_ms", "ci_ms", "samples_ms"} <= set(step["latency"])
    for key in ("throughput_per_s", "cold_start", "memory", "build"):
        assert key in step
    assert step["latency"]["count"] == 20 and step["memory"]["device_peak_bytes"] is None and step["stage"] == "policy_step"
    assert {r["stage"] for r in d["runs"]} == {"vision", "prefix", "denoise", "policy_step"}
    # 20 samples bound no p99: said as a warning, as profile says it
    assert any("too few samples for a bounded p99" in w for w in d["warnings"]), d["warnings"]


def test_bench_explains_the_policy_step_and_lists_its_warnings(tiny_export):
    """bench once printed the step's p50 beside stage rows summing to a fraction of it, with no warnings at all."""
    res = invoke("bench", tiny_export, *FAST, "--iterations", "20", "--no-store", "--no-layer-profile")
    assert res.exit_code == 0, res.output
    assert "Policy step breakdown" in res.output and "host glue" in res.output, res.output
    assert "Warnings (" in res.output and "too few samples" in res.output, res.output
    assert "policy step p50" in res.output.strip().splitlines()[-1]   # the closing line stays last


def test_flops_json_on_export_dir(tiny_export):
    d = json.loads(invoke("flops", tiny_export, "--json").stdout)
    for key in ("macs", "flops", "flops_total", "params", "weight_bytes", "by_op_type", "unknown_ops", "unresolved_nodes"):
        assert key in d
    assert d["flops"] == 2 * d["macs"] and d["unknown_ops"] == {} and d["unresolved_nodes"] == []
    assert d["by_op_type"]["MatMul"]["count"] > 0
    w = d["weight_bytes_by_precision"]   # the memory model predict and qualify use
    assert w["fp32"] == 4 * d["params"] and w["fp16"] == w["bf16"] == 2 * d["params"] and w["fp8"] == d["params"]
    assert w["int4"] < w["int8"] < w["fp16"] and "Weights per precision" in invoke("flops", tiny_export).stdout


@pytest.mark.parametrize("case", ["corrupt", "truncated", "missing"])
def test_bad_model_files_give_one_error_line(tmp_path, tiny_export, case):
    path = tmp_path / "m.onnx"
    if case == "corrupt":
        path.write_bytes(b"\x00not an onnx model at all\xff" * 10)
    elif case == "truncated":
        data = (tiny_export / "vision.onnx").read_bytes()
        path.write_bytes(data[: len(data) // 3])
    for cmd in (["flops", path], ["bench", path, "--iterations", "1"]):
        res = invoke([str(c) for c in cmd])
        assert res.exit_code == 1, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.output
        assert "Traceback" not in res.output


def test_unknown_backend_is_one_error_line(tiny_export):
    res = invoke(["bench", str(tiny_export), "--backend", "nope"])
    assert res.exit_code == 1 and res.output.strip().startswith("error: unknown backend 'nope'")
    assert "ort-cpu" in res.output


def test_cuda_on_a_machine_without_it_is_an_error_not_a_cpu_run(tiny_export):
    from deployprof.backends import BACKENDS
    if BACKENDS.get("ort-cuda").availability().ok:
        pytest.skip("this machine has CUDA for ONNX Runtime")
    res = invoke(["bench", str(tiny_export), "--backend", "ort-cuda", "--iterations", "1"])
    assert res.exit_code == 1 and "error: backend ort-cuda is unavailable" in res.output


def test_profile_unavailable_backend_fails_or_skips(tmp_path, tiny_export):
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "a"), "--backends", "ort-cpu,trt"])
    assert res.exit_code == 1 and "error: backend trt is unavailable" in res.output
    assert not (tmp_path / "a" / "report.json").exists()
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "b"), "--backends", "ort-cpu,trt",
                  "--skip-unavailable", "--iterations", "5", "--warmup", "1", "--in-process"])
    assert res.exit_code == 0, res.output
    rep = ProfileReport.read(tmp_path / "b" / "report.json")
    assert any(w.startswith("skipped backend trt") for w in rep.warnings)


def test_bad_options_are_one_line_errors(tiny_export):
    res = invoke(["flops", str(tiny_export), "--dim", "batch"])
    assert res.exit_code == 1 and res.output.startswith("error: --dim expects NAME=VALUE")
    res = invoke(["bench", str(tiny_export), "--iterations", "5", "--duration", "1"])
    assert res.exit_code == 1 and "not both" in res.output


def test_inputs_from_npz(tmp_path, tiny_export):
    model = onnx.load(str(tiny_export / "vision.onnx"), load_external_data=False)
    name = model.graph.input[0].name
    npz = tmp_path / "in.npz"
    np.savez(npz, **{name: np.zeros((1, 2, 3, 32, 32), np.float32)})
    res = invoke("bench", tiny_export / "vision.onnx", "--inputs", npz, "--iterations", "3", "--in-process", "--json")
    assert json.loads(res.stdout)["runs"][0]["latency"]["count"] == 3


def test_batch_list_and_concurrency(tiny_export):
    res = invoke("bench", tiny_export / "denoise.onnx", "--batch", "1,2", "--concurrency", "2", "--iterations", "20",
                 "--warmup", "1", "--warmup-time", "0", "--json", "--in-process")
    runs = json.loads(res.stdout)["runs"]
    assert [r["batch"] for r in runs] == [1, 2] and all(r["concurrency"] == 2 for r in runs)
    assert all(r["latency"]["count"] == 20 for r in runs)
    res = invoke(["bench", str(tiny_export), "--dim", "batch=2"])
    assert res.exit_code == 1 and "--batch" in res.output


def test_rate_mode_reports_deadlines(tiny_export):
    res = invoke("bench", tiny_export, "--rate", "100", "--iterations", "30", "--warmup", "1", "--warmup-time", "0",
                 "--idle-gaps", "0.05", "--json", "--in-process")
    d = json.loads(res.stdout)
    (run,) = d["runs"]
    c = run["control"]
    assert run["stage"] == "policy_step" and c["requests"] == 30 and c["chunk_length"] == 8
    assert 0 <= c["deadline_miss_rate"] <= 1 and c["effective_action_rate_per_s"] > 0
    assert set(c["idle_gap_latency_ms"]) == {"0.05"}



def test_export_users_own_module(tmp_path):
    out = tmp_path / "mine"
    res = invoke("export", "--module", "tests.data.my_policy:make", "--out", out)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    ins = {t["name"]: t for t in manifest["stages"][0]["inputs"]}
    assert ins["instruction"]["dist"] == "int" and ins["instruction"]["shape"][0] == "batch"
    d = json.loads(invoke("bench", out, "--backend", "torch", "--iterations", "5", "--in-process", "--json").stdout)
    assert d["runs"][0]["latency"]["count"] == 5 and d["backend"] == "torch"
    res = invoke(["export", "--module", "nope.mod:f", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "cannot import" in res.output


def test_ctrl_c_is_reported_as_an_interrupt_even_when_a_library_rewords_it(monkeypatch, tmp_path):
    """torch's exporter once turned a SIGINT into 'exported graph fails the ONNX checker'."""
    import os
    import signal
    import time

    from deployprof.errors import ConfigError
    from deployprof.cli import qualify as command

    def swallows_the_interrupt(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ConfigError("a library's own wording of what happened") from None

    monkeypatch.setattr(command, "qualify_source", swallows_the_interrupt)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal (`cmd &` ignores SIGINT)
    try:
        res = invoke(["qualify", "--spec", str(tmp_path / "s.yaml"), str(tmp_path)])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI's handler is gone again
    finally:
        signal.signal(signal.SIGINT, before)
    assert res.exit_code == 130 and res.output.strip().startswith("error: interrupted"), res.output


def _quiet(*args):
    return invoke(["-q", *args])


def test_quiet_commands_keep_their_closing_line(tiny_export):
    """`-q bench`, `-q predict` and `-q compare-precision` once printed nothing at all (the last exiting 3 silently)."""
    r = _quiet("bench", str(tiny_export), *FAST,
               "--no-store")
    # the closing line last, after the count of the warnings that --json lists
    assert r.exit_code == 0 and r.stdout.strip().splitlines()[-1].startswith("ort-cpu fp32 at batch 1: policy step p50"), \
        r.stdout
    r = _quiet("predict", str(tiny_export), "--target", "jetson-orin-nano-8gb")
    assert r.exit_code == 0 and r.stdout.strip().startswith("Policy-step floor on jetson-orin-nano-8gb: fp32"), r.stdout
    r = _quiet("compare-precision", str(tiny_export), "--precisions", "int8", "--samples", "2")
    assert r.exit_code == 3, r.stdout
    assert "int8 not PASS (exit 3).\nNext:" in r.stdout, r.stdout
    assert f"\n  deployprof precision-debug {tiny_export} --precision int8 --out RUN\n" in r.stdout, r.stdout


def test_bench_and_compare_precision_take_a_preset_name_as_profile_does():
    r = _quiet("bench", "tiny-vla", *FAST,
               "--no-store", "--no-layer-profile")
    assert r.exit_code == 0 and "policy step p50" in r.stdout, r.output
    r = _quiet("compare-precision", "Tiny-VLA", "--precisions", "fp16")
    assert r.exit_code == 1 and "did you mean tiny-vla?" in r.output, r.output
