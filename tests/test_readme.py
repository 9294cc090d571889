"""The README walk: every command in the README's shell blocks, run as written, in order, in a fresh folder.
A newcomer's first command once crashed because every test passed --duration; this test passes nothing."""
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A command may fail only for hardware this machine lacks, with one error line that names it.
HARDWARE = re.compile(r"CUDA|GPU|TensorRT|tensorrt|onnxruntime-gpu|Jetson|NVML")
VERDICT_COMMANDS = ("qualify", "compare", "compare-precision")  # exit 3 is their documented verdict, not a crash


def readme_commands(text: str) -> list[str]:
    """Lines of ```bash blocks, less comments and the set-up scripts (CI runs scripts/test.sh itself)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        cmd = line.split(" #")[0].strip() if inside else ""
        if cmd and not cmd.startswith(("#", "./scripts/")):
            lines.append(cmd)
    return lines


def _outputs(words: list[str]) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--out"]


def test_readme_lists_the_commands_a_newcomer_runs():
    cmds = readme_commands((ROOT / "README.md").read_text())
    assert "deployprof profile tiny-vla --out out/demo" in cmds
    assert any(c.startswith("deployprof bench ") and "--duration" not in c and "--iterations" not in c for c in cmds)


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    env_path = f"{Path(sys.executable).parent}:{subprocess.os.environ.get('PATH', '')}"
    needs_hardware: set[str] = set()   # --out folders of commands that failed for missing hardware
    ran = []
    for cmd in readme_commands((ROOT / "README.md").read_text()):
        words = shlex.split(cmd)
        if any(w.rstrip("/") in needs_hardware for w in words):
            continue  # it reads what a hardware-only command would have written
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                              env={**subprocess.os.environ, "PATH": env_path})
        ran.append(cmd)
        err = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode == 0 or (proc.returncode == 3 and words[:2] in ([["deployprof", c] for c in VERDICT_COMMANDS])):
            continue
        assert proc.returncode == 1, f"{cmd}\nexit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert len(err) == 1 and err[0].startswith("error: ") and HARDWARE.search(err[0]), \
            f"{cmd} failed, and not for missing hardware:\n{proc.stderr[-2000:]}"
        needs_hardware.update(o.rstrip("/") for o in _outputs(words))
    assert any(c.startswith("deployprof profile") for c in ran) and (tmp_path / "out/demo/report.html").exists()
    report = json.loads((tmp_path / "out/demo/report.json").read_text())   # the first profile, with default lengths:
    assert report["settings"]["iterations"] is None and report["settings"]["duration_s"] is None
    for r in report["runs"]:   # adaptive: at least a second, until the statistics converge (or the 30 s cap)
        assert r["loop_wall_s"] >= 1.0 and r["stopped_by"].startswith(("converged", "time cap 30 s")), r
