"""What a real LeRobot install throws at us: checkpoints broken in the ways users' folders are (truncated or
oversized safetensors headers, weights of another dtype or shape, zero or NaN statistics, a missing processor file,
a statistics path leaving the folder), a config LeRobot's parser exits on, a LeRobot that cannot be imported. Each
is one `error:` line naming what is wrong, and nothing is written. Run in the LeRobot environment (skipped without
it, failed when scripts/test.sh requires it, as tests/test_lerobot.py)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_lerobot import ENV, PYTHON, ROOT, _one_error_line, _run, make_checkpoints

BREAK = """
import json, shutil, struct, sys, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
act, out = Path(sys.argv[1]), Path(sys.argv[2])
for how in sys.argv[3:]:
    d = out / how
    shutil.copytree(act, d)
    weights = d / "model.safetensors"
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "oversized-header":
        data = weights.read_bytes(); weights.write_bytes(struct.pack("<Q", 10**15) + data[8:])
    elif how in ("wrong-dtype", "wrong-shape"):
        t = load_file(weights)
        k = next(k for k in sorted(t) if t[k].ndim == 2)
        t[k] = t[k].half() if how == "wrong-dtype" else torch.zeros(t[k].shape[0] + 1, t[k].shape[1])
        save_file(t, weights)
    elif how in ("zero-std", "nan-stats"):
        for f in d.glob("*normalizer_processor.safetensors"):
            t = load_file(f)
            for k in t:
                if k.endswith(".std"):
                    t[k] = torch.full_like(t[k], 0.0 if how == "zero-std" else float("nan"))
            save_file(t, f)
    elif how == "missing-processor":
        (d / "policy_postprocessor.json").unlink()
    elif how == "stats-outside":
        shutil.copy(next(d.glob("policy_preprocessor_step_*normalizer*")), out / "victim.safetensors")
        p = json.loads((d / "policy_preprocessor.json").read_text())
        for step in p["steps"]:
            if "state_file" in step:
                step["state_file"] = "../victim.safetensors"
        (d / "policy_preprocessor.json").write_text(json.dumps(p))
"""

# every broken folder exported in one process (LeRobot's import costs seconds), through the real CLI
EXPORT_EACH = """
import json, sys
from click.testing import CliRunner
from deployprof.cli import cli
out = {}
for folder in sys.argv[2:]:
    r = CliRunner().invoke(cli, ["export", "--lerobot", folder, "--out", folder + "-out"])
    out[folder] = [r.exit_code, r.output, repr(r.exception)]
open(sys.argv[1], "w").write(json.dumps(out))
"""

BROKEN = {
    "truncated": ("model.safetensors", "not a whole safetensors file"),
    "oversized-header": ("model.safetensors", "not a whole safetensors file"),
    "wrong-shape": ("cannot load this act checkpoint",),
    "wrong-dtype": ("another dtype than the policy's", "float16"),
    "zero-std": ("a std of 0", "must be positive"),
    "nan-stats": ("not finite",),
    "missing-processor": ("policy_postprocessor.json",),
    "stats-outside": ("state_file", "outside"),
}


@pytest.fixture(scope="module")
def act(tmp_path_factory) -> Path:
    return make_checkpoints(tmp_path_factory.mktemp("lerobot-hostile"), "act") / "act"


@pytest.fixture(scope="module")
def exported(act, tmp_path_factory) -> dict:
    """Each broken checkpoint (a copy of a good one, broken one way) and what `export --lerobot` said of it."""
    out = tmp_path_factory.mktemp("broken")
    r = _run("-c", BREAK, act, out, *BROKEN)
    assert r.returncode == 0, r.stderr[-2000:]
    r = _run("-c", EXPORT_EACH, out / "said.json", *(out / how for how in BROKEN))
    assert r.returncode == 0, r.stderr[-2000:]
    return {Path(k).name: (v, Path(k)) for k, v in json.loads((out / "said.json").read_text()).items()}


@pytest.mark.parametrize("how", BROKEN)
def test_a_broken_checkpoint_is_one_line_and_writes_nothing(exported, how):
    (code, said, exc), folder = exported[how]
    lines = [line for line in said.splitlines() if line.strip()]
    assert code == 1 and lines[-1].startswith("error: ") and "Traceback" not in said, (code, said, exc)
    assert all(w in lines[-1] for w in BROKEN[how]), lines[-1]
    assert not Path(f"{folder}-out").exists(), "a refused checkpoint wrote its --out"


def _refused(folder: Path, tmp_path: Path, *words: str, env=None) -> None:
    out = tmp_path / "out"
    r = subprocess.run([str(PYTHON), "-m", "deployprof", "export", "--lerobot", str(folder), "--out", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    _one_error_line(r, *words)
    assert not out.exists(), "a refused checkpoint wrote its --out"


def test_a_config_lerobots_parser_exits_on_is_one_line(act, tmp_path):
    """draccus (LeRobot's config parser) reports some errors with sys.exit, which is no Exception."""
    code = ("import sys; from lerobot.configs.policies import PreTrainedConfig\n"
            "def exits(*a, **k):\n    sys.exit(2)\n"
            "PreTrainedConfig.from_pretrained = exits\n"
            "sys.argv = ['deployprof', 'export', '--lerobot', sys.argv[1], '--out', sys.argv[2]]\n"
            "from deployprof.cli import main; main()")
    r = _run("-c", code, act, tmp_path / "out")
    _one_error_line(r, "cannot read config.json", "SystemExit")
    assert not (tmp_path / "out").exists()


def test_a_lerobot_that_cannot_be_imported_is_one_line(act, tmp_path):
    """A dependency of LeRobot's missing from the environment (here a package that fails to import)."""
    shim = tmp_path / "shim" / "draccus"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'pyyaml_include'\")\n")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(shim.parent), str(ROOT)])}
    _refused(act, tmp_path, "cannot be imported", "pyyaml_include", env=env)
