"""LeRobot checkpoints: a `pretrained_model` folder saved by LeRobot (config.json with the policy `type`,
model.safetensors, the processors' JSON and statistics), exported with LeRobot's own classes into the zoo's staged
form, with the normalisation in the graphs and parity against LeRobot's own inference. LeRobot is imported only here
and below, when such a folder is exported."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError

SUPPORTED = ((0, 4, 4), (0, 5, 0))   # LeRobot releases whose checkpoint layout and classes this was written for
SUPPORTED_TEXT = ">=0.4.4,<0.5"
# Policy types exported, and why the others are not (`deployprof export --lerobot` says so in one line).
UNSUPPORTED = {
    "vqbet": "its action head samples discrete codes with torch.multinomial in select_action (not a fixed graph)",
    "tdmpc": "its planner runs MPPI with random rollouts and a learned model inside select_action, not a network "
             "step that a fixed schedule can replay",
    "pi0": "it needs transformers 4.53.2 with LeRobot's patched files, which no package registry has",
    "pi05": "it needs transformers 4.53.2 with LeRobot's patched files, which no package registry has",
    "groot": "its constructor always downloads its 3B base model",
}
INSTALL = ("pip install 'deployprof[lerobot]' (LeRobot's own torch pins), or into a venv with torch 2.14: "
           "pip install --no-deps 'lerobot" + SUPPORTED_TEXT + "' and its runtime deps (README, LeRobot checkpoints)")

MAX_CONFIG_BYTES = 1 << 20


def is_checkpoint(path: Path) -> bool:
    """A folder holding a LeRobot policy: config.json naming a policy `type`, beside model.safetensors."""
    path = Path(path)
    if not (path.is_dir() and (path / "config.json").is_file() and (path / "model.safetensors").is_file()):
        return False
    try:  # a LeRobot config is a few KB: at most 1 MiB is read (a valid JSON with a 1 GiB tail once cost 2.3 GB)
        with open(path / "config.json", "rb") as fh:
            text = fh.read(MAX_CONFIG_BYTES + 1)
        data = json.loads(text.decode("utf-8")) if len(text) <= MAX_CONFIG_BYTES else None
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("type"), str) and not (path / "manifest.json").exists()


def lerobot_version() -> str:
    """The installed LeRobot's version, if it is one this was written for; else one error line saying what to do."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        found = version("lerobot")
    except PackageNotFoundError:
        raise ConfigError(f"exporting a LeRobot checkpoint needs LeRobot {SUPPORTED_TEXT}: {INSTALL}") from None
    parts = tuple(int(p) if p.isdigit() else 0 for p in found.split(".")[:3])
    if not SUPPORTED[0] <= parts < SUPPORTED[1]:
        raise ConfigError(f"LeRobot {found} is installed; deployprof reads checkpoints of LeRobot {SUPPORTED_TEXT} "
                          f"(the checkpoint layout and policy classes changed between releases): {INSTALL}")
    return found
