"""--json: stdout carries the one JSON document and nothing else, whatever the libraries it loads print (ONNX
Runtime's calibration once wrote its progress there and the JSON did not parse). Real processes, since C code and
child processes write to file descriptor 1, which click's test runner does not see."""
import json
import subprocess
import sys

import pytest


def _cli(*args, code=(0, 3)):
    res = subprocess.run([sys.executable, "-m", "deployprof", *map(str, args)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode in code, res.stderr[-2000:]
    return res


def test_noise_on_fd1_and_python_stdout_goes_to_stderr():
    code = ("import os, sys\nfrom deployprof.cli_options import stdout_to_stderr\n"
            "with stdout_to_stderr() as out:\n    print('python noise'); sys.stdout.flush(); os.write(1, b'C noise\\n')\n"
            "    out.write('{}\\n')\nprint('after')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout == "{}\nafter\n" and "python noise" in res.stderr and "C noise" in res.stderr


@pytest.mark.slow
def test_every_json_command_that_loads_a_library_prints_only_json(tiny_export, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("latency_ms: {p99: 1000}\n")
    fast = ("--iterations", "20", "--warmup", "1", "--warmup-time", "0")
    runs = {
        "compare-precision": _cli("compare-precision", tiny_export, "--precisions", "int8", "--samples", "2",
                                  "--calibration-method", "percentile", "--json"),
        "bench int8 entropy (own process)": _cli("bench", tiny_export, "--precision", "int8", "--calibration-method",
                                                 "entropy", "--calibration-samples", "2", "--json", "--no-store", *fast),
        "flops": _cli("flops", tiny_export, "--json"),
        "predict": _cli("predict", tiny_export, "--target", "cpu", "--json"),
        "qualify": _cli("qualify", tiny_export, "--spec", spec, "--target", "cpu", "--json", "--store", tmp_path / "s.sqlite"),
        "doctor": _cli("doctor", "--json"),
        "history": _cli("history", "--store", tmp_path / "s.sqlite", "--json"),
    }
    for what, res in runs.items():
        doc = json.loads(res.stdout)  # the whole of stdout is one document
        assert doc["schema_version"] == 3, what
    assert "Finding optimal threshold" in runs["compare-precision"].stderr  # the noise went to stderr, not away
