"""LeRobot checkpoints as users hold them: small random-init policies saved by LeRobot's own save_pretrained
(tests/lerobot/checkpoints.py), exported and profiled as a user would (`deployprof export --lerobot DIR`,
`deployprof profile DIR`) in the LeRobot environment scripts/lerobot_venv.sh builds (torch 2.14 + LeRobot 0.4.4).
Without that environment these skip; scripts/test.sh sets DEPLOYPROF_REQUIRE_LEROBOT=1, which makes them fail."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-lerobot" / "bin" / "python"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _run(*args, cwd=ROOT, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _deployprof(*args, timeout=600) -> subprocess.CompletedProcess:
    return _run("-m", "deployprof", *args, timeout=timeout)


def _one_error_line(r: subprocess.CompletedProcess, *words: str) -> str:
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode != 0 and lines and lines[-1].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert all(w in lines[-1] for w in words), lines[-1]
    return lines[-1]


def _require_environment() -> None:
    if not PYTHON.exists():
        why = "the LeRobot environment is not built (scripts/lerobot_venv.sh)"
        if os.environ.get("DEPLOYPROF_REQUIRE_LEROBOT") == "1":
            pytest.fail(why)
        pytest.skip(why)


def make_checkpoints(out: Path, *kinds: str) -> Path:
    """LeRobot checkpoints of these kinds saved under `out` by the LeRobot environment (skipped without it, failed
    where scripts/test.sh requires it)."""
    _require_environment()
    r = _run("-m", "tests.lerobot.checkpoints", out, *kinds)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return make_checkpoints(tmp_path_factory.mktemp("lerobot"), "act", "diffusion", "diffusion-ddim", "smolvla", "vqbet")


TASK = "pick up the red cube"


def _check_export(m: dict, kind: str, stages: list[str], steps) -> None:
    """The manifest of a LeRobot export: its stages, LeRobot's own input keys (raw observations in, robot-unit actions
    out), the policy step's parity against LeRobot's select_action, and the loop as LeRobot runs it."""
    assert [s["name"] for s in m["stages"]] == stages
    p = m["step_parity"]
    assert p["samples"] == 2 and len(p["max_abs_err_per_dim"]) == 6 and max(p["max_abs_err_per_dim"]) <= p["tolerance"] <= 1e-3
    assert m["source"]["policy_type"] == kind.split("-")[0] and m["source"]["lerobot"] == "0.4.4"
    assert {t["name"] for s in m["stages"] for t in s["inputs"]} >= {"observation.state", "observation.images.top"}
    loops = [c["loop"] for c in m["schedule"] if c["loop"]]
    if steps is None:
        assert not loops
    elif kind == "smolvla":   # the prompt tokenised once, recorded; flow matching as sample_actions runs it
        assert loops[0]["kind"] == "euler" and loops[0]["steps"] == steps and m["source"]["task"] == TASK
        assert any("batch: fixed at 1" in n for n in m["notes"])
    else:
        assert loops[0]["kind"] == "diffusers" and len(loops[0]["scheduler"]["timesteps"]) == steps
        assert loops[0]["scheduler"]["type"] == ("DDIM" if kind.endswith("ddim") else "DDPM")


def _readme_recipe() -> list[str]:
    """The README's commands for a checkpoint made without the hub (its block after 'without the hub')."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("without the hub"):]
    block = block[block.index("```sh\n") + 6:]
    return block[:block.index("```")].strip().splitlines()


def test_the_readme_recipe_without_the_hub(tmp_path):
    """The README's recipe as written (in a scratch folder; its first line builds this very environment, which the
    suite's set-up ran), with profile's defaults: ACT's export, parity and report."""
    _require_environment()
    setup, *commands = _readme_recipe()
    assert setup == "scripts/lerobot_venv.sh" and len(commands) == 2
    for line in commands:
        exe, *args = line.split()
        assert exe.startswith(".venv-lerobot/bin/"), line
        r = subprocess.run([str(ROOT / exe), *args], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{line}: {r.stderr[-3000:]}"
    assert (tmp_path / "out" / "lerobot" / "act" / "model.safetensors").is_file()
    out = tmp_path / "out" / "act-lerobot"
    _check_export(json.loads((out / "export" / "manifest.json").read_text()), "act", ["policy"], None)
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["family"] == "lerobot-act"
    main = [x for x in report["runs"] if x["stage"] == "policy"]
    assert main and main[0]["accuracy"]["verdict"] == "PASS"


@pytest.mark.parametrize("kind,stages,steps", [("diffusion", ["encoder", "denoise", "actions"], 20),
                                                ("smolvla", ["prefix", "denoise", "actions"], 3)])
def test_profile_a_lerobot_folder(checkpoints, tmp_path, kind, stages, steps):
    """`deployprof profile DIR`: exported into OUT/export (parity against LeRobot's own select_action), measured."""
    int8 = ("--precisions", "int8") if kind == "diffusion" else ()
    r = _deployprof("profile", checkpoints / kind, "--out", tmp_path / "p", "--duration", "0.3", "--accuracy-samples",
                    "2", "--warmup", "2", "--task", TASK, *int8)
    assert r.returncode == 0, r.stderr[-3000:]
    if int8:  # ONNX Runtime's quantizer cannot take the UNet whole: compute ops only, and the report says so
        report = json.loads((tmp_path / "p" / "report.json").read_text())
        assert "denoise" in report["precision_info"]["int8"]["stages_quantized_at_compute_ops_only"]
        assert any(w.startswith("int8: stage denoise quantized at Conv") for w in report["warnings"])
        assert {x["precision"] for x in report["runs"]} == {"fp32", "int8"}
    _check_export(json.loads((tmp_path / "p" / "export" / "manifest.json").read_text()), kind, stages, steps)
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["model"]["family"] == f"lerobot-{kind}"
    main = [x for x in report["runs"] if x["stage"] == ("policy" if kind == "act" else "policy_step")]
    assert main and main[0]["latency"]["p50_ms"] > 0 and main[0]["accuracy"]["verdict"] == "PASS"
    # the checkpoint's action statistics are the default per-joint limits (a tenth of each std), beside the bands
    manifest = json.loads((tmp_path / "p" / "export" / "manifest.json").read_text())
    acc = main[0]["accuracy"]
    assert len(manifest["action_std"]) == len(acc["per_action_dim_max_abs"]) == len(acc["atol_per_dim"]) > 0
    assert acc["atol_per_dim_source"].startswith("0.1 x") and all(v >= 0 for v in manifest["action_std"])


def test_export_lerobot_with_a_ddim_scheduler(checkpoints, tmp_path):
    """`deployprof export --lerobot DIR`: a DDIM checkpoint predicting the sample, 5 inference steps."""
    r = _deployprof("export", "--lerobot", checkpoints / "diffusion-ddim", "--out", tmp_path / "export")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "policy step vs lerobot 0.4.4 DiffusionPolicy.select_action" in r.stdout, r.stdout
    _check_export(json.loads((tmp_path / "export" / "manifest.json").read_text()), "diffusion-ddim",
                  ["encoder", "denoise", "actions"], 5)


def test_an_unsupported_type_is_one_line(checkpoints, tmp_path):
    r = _deployprof("export", "--lerobot", checkpoints / "vqbet", "--out", tmp_path / "x")
    _one_error_line(r, "'vqbet' is not supported", "multinomial", "supported: act, diffusion, smolvla")
    assert not (tmp_path / "x").exists()


def test_weights_lerobot_did_not_load_are_one_line(checkpoints, tmp_path):
    """LeRobot prints "Returning model without loading pretrained weights" and goes on; the export refuses."""
    import shutil

    bad = tmp_path / "act"
    shutil.copytree(checkpoints / "act", bad)
    code = ("import sys; from safetensors.torch import load_file, save_file; f = sys.argv[1]; d = load_file(f); "
            "d.pop(sorted(d)[0]); save_file(d, f)")
    assert _run("-c", code, bad / "model.safetensors").returncode == 0
    r = _deployprof("profile", bad, "--out", tmp_path / "p", "--duration", "0.5")
    _one_error_line(r, "did not load the checkpoint's weights", "1 of the policy's tensors not in model.safetensors")
    assert not (tmp_path / "p" / "report.json").exists()


def test_a_path_that_is_no_checkpoint_is_one_line(checkpoints, tmp_path):
    """LeRobot would read any other path as a hub repository id."""
    (tmp_path / "file.txt").write_text("x")
    for path in (tmp_path / "missing", tmp_path / "file.txt", tmp_path):
        _one_error_line(_deployprof("export", "--lerobot", path, "--out", tmp_path / "x"), "not a LeRobot checkpoint folder")
    assert not (tmp_path / "x").exists()


def test_a_broken_config_is_one_line(checkpoints, tmp_path):
    import shutil

    bad = tmp_path / "act"
    shutil.copytree(checkpoints / "act", bad)
    (bad / "config.json").write_text(json.dumps({"type": "act", "chunk_size": "ten"}))
    _one_error_line(_deployprof("export", "--lerobot", bad, "--out", tmp_path / "x"), "cannot read config.json")


def test_without_lerobot_or_with_another_release_is_one_line(monkeypatch):
    """In this (main) environment LeRobot is absent; another release is refused by version."""
    import importlib.metadata

    from deployprof.errors import ConfigError
    from deployprof.lerobot import lerobot_version

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.3.3" if name == "lerobot" else real(name))
    with pytest.raises(ConfigError, match=r"LeRobot 0.3.3 is installed; deployprof reads checkpoints of LeRobot >=0.4.4,<0.5"):
        lerobot_version()

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", absent)
    with pytest.raises(ConfigError, match=r"needs LeRobot >=0.4.4,<0.5: pip install 'deployprof\[lerobot\]'"):
        lerobot_version()


def test_a_checkpoint_without_lerobot_installed_is_one_line(checkpoints, tmp_path):
    """`deployprof profile DIR` where LeRobot is not installed (this suite's own environment): refused before --out."""
    import sys

    r = subprocess.run([sys.executable, "-m", "deployprof", "profile", str(checkpoints / "act"), "--out",
                        str(tmp_path / "p")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    _one_error_line(r, "needs LeRobot >=0.4.4,<0.5", "pip install 'deployprof[lerobot]'")
    assert not (tmp_path / "p").exists()


def test_the_torch_backend_on_a_checkpoint_is_refused_before_work(checkpoints, tmp_path):
    """Once step 5 of 6, after 80 s: the export holds ONNX graphs, and LeRobot's policy is not a module deployprof
    builds."""
    r = _deployprof("profile", checkpoints / "act", "--backends", "ort-cpu,torch", "--out", tmp_path / "p")
    _one_error_line(r, "backend torch is unavailable", "LeRobot checkpoint's policy runs inside LeRobot")
    assert not (tmp_path / "p").exists()
