"""The built wheel runs the README's main job: a package left out of a hand-kept list once made `pip install
deployprof` unable to run `profile`. The wheel goes into a fresh venv that sees this venv's dependencies but not
its editable deployprof (a path added by a .pth line has no .pth files of its own processed)."""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_installs_and_profiles_a_preset(tmp_path):
    def run(*cmd, **kw):
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
        assert res.returncode == 0, f"{cmd}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        return res.stdout

    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    (wheel,) = (tmp_path / "dist").glob("deployprof-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-compile", wheel)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = run(python, "-c", "import deployprof; print(deployprof.__file__)", cwd=tmp_path, env=env)
    assert where.startswith(str(site)), where  # the wheel's copy, not the checkout
    out = tmp_path / "demo"
    run(venv / "bin" / "deployprof", "profile", "tiny-vla", "--out", out, "--iterations", "30", "--warmup", "2",
        "--accuracy-samples", "2", "--precisions", "fp32,int8", "--target", "cpu", "--no-store", cwd=tmp_path, env=env)
    report = json.loads((out / "report.json").read_text())
    assert {r["precision"] for r in report["runs"]} == {"fp32", "int8"} and report["roofline"]
    assert "jetson-orin-nano-8gb" in run(venv / "bin" / "deployprof", "targets", cwd=tmp_path, env=env)  # package data
    spec = tmp_path / "spec.yaml"
    spec.write_text("latency_ms: {p99: 100000}\n")
    res = subprocess.run([venv / "bin" / "deployprof", "qualify", "--spec", spec, out, "--no-store"], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)
    assert res.returncode in (0, 3) and "measured on" in res.stdout, res.stderr
