"""Every command once with nothing but its required arguments: defaults are tested as defaults."""

import pytest

from .conftest import invoke



def run(*args, code=0):
    res = invoke([str(a) for a in args])
    assert res.exit_code == code, f"{args}: exit {res.exit_code}\n{res.output[-3000:]}"
    return res.output


def test_listing_commands():
    for cmd in ("backends", "models", "targets"):
        assert run(cmd).strip()


def test_static_commands_on_an_export(tiny_export):
    assert "MatMul" in run("flops", tiny_export)
    assert "note" in run("flops", tiny_export / "denoise.onnx")  # an unbound batch is assumed 1, and said so
    assert "Roofline floor on jetson-orin-nano-8gb" in run("predict", tiny_export, "--target", "jetson-orin-nano-8gb")
    assert "fp16" in run("compare-precision", tiny_export, code=3)  # int8 FAILs the default bands on tiny-vla: exit 3


@pytest.mark.slow
def test_measuring_commands_with_default_lengths(tiny_export):
    """No --duration, --iterations or --warmup: the defaults decide how long each run is. `profile` with its defaults
    is the README's first command, whose report tests/test_readme.py checks for them (it was run here again)."""
    assert "policy_step" in run("bench", tiny_export)


def test_report_compare_and_qualify_with_their_defaults(tiny_export, tmp_path):
    # not under test; a fixed count, not a duration: a p99's 95% interval needs several hundred samples to have an upper
    # end, which 2 s of a loaded machine's steps did not give (qualify then said INCONCLUSIVE, rightly)
    run("profile", tiny_export, "--out", tmp_path / "p", "--backends", "ort-cpu", "--iterations", "600")
    assert "wrote" in run("report", tmp_path / "p")
    run("compare", tmp_path / "p", tmp_path / "p")
    (tmp_path / "spec.yaml").write_text("latency_ms: {p99: 1000}\n")
    assert "PASS" in run("qualify", "--spec", tmp_path / "spec.yaml", tmp_path / "p")


@pytest.mark.slow
def test_export_and_train_bench_with_defaults(tmp_path):
    assert "manifest" in run("export", "tiny-vla", "--out", tmp_path / "e")
    assert "report:" in run("train-bench", "tiny-vla", "--out", tmp_path / "t")
