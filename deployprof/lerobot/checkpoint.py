"""A LeRobot checkpoint folder loaded with LeRobot's own classes: the policy (its weights checked against the
safetensors file: LeRobot prints "Returning model without loading pretrained weights" and goes on when loading
fails), and the normaliser and unnormaliser steps of its processors, which the export puts into the graphs."""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from . import UNSUPPORTED, is_checkpoint, lerobot_version

# Processor steps that change nothing a fixed graph must reproduce: device moves, batching, an empty rename; and the
# prompt's (a newline appended, tokenised), which the export runs once and fixes in the graph.
PASSIVE_STEPS = ("RenameObservationsProcessorStep", "AddBatchDimensionProcessorStep", "DeviceProcessorStep",
                 "SmolVLANewLineProcessor", "TokenizerProcessorStep")


@dataclass
class Checkpoint:
    folder: Path
    version: str                 # LeRobot's
    policy: object               # a PreTrainedPolicy, eval mode, CPU
    normalizer: object           # NormalizerProcessorStep
    unnormalizer: object         # UnnormalizerProcessorStep
    pre: object                  # the pipelines themselves, for the parity check
    post: object

    @property
    def type(self) -> str:
        return self.policy.config.type


def load_checkpoint(folder: Path, supported: tuple[str, ...]) -> Checkpoint:
    """Every failure is one ConfigError line naming the folder and what to do."""
    if not is_checkpoint(folder):   # LeRobot would take any other path for a hub repository id
        raise ConfigError(f"--lerobot {folder}: not a LeRobot checkpoint folder (expected config.json naming a policy "
                          "type beside model.safetensors: the pretrained_model folder LeRobot's save_pretrained writes)")
    version = lerobot_version()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")   # a checkpoint folder is read as it is: never the hub
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    from safetensors import safe_open

    folder = Path(folder)
    try:
        config = PreTrainedConfig.from_pretrained(str(folder))
    except Exception as exc:  # LeRobot's own refusal, whatever its type: one line
        raise ConfigError(f"{folder}: LeRobot {version} cannot read config.json ({_line(exc)}); is it a checkpoint of "
                          "LeRobot 0.4?") from None
    kind = config.type
    if kind not in supported:
        why = UNSUPPORTED.get(kind, "no export is written for it yet")
        raise ConfigError(f"{folder}: LeRobot policy type {kind!r} is not supported ({why}); supported: "
                          f"{', '.join(supported)}")
    config.device = "cpu"
    with contextlib.redirect_stdout(io.StringIO()):   # LeRobot prints as it loads
        try:
            policy = get_policy_class(kind).from_pretrained(str(folder), config=config)
            pre, post = make_pre_post_processors(policy.config, pretrained_path=str(folder))
        except Exception as exc:
            raise ConfigError(f"{folder}: LeRobot {version} cannot load this {kind} checkpoint "
                              f"({_line(exc)})") from None
    ours = policy.state_dict()
    try:  # one tensor at a time: a second copy of every weight is not needed to compare them
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            saved = list(f.keys())
            differ = [k for k in saved if k in ours and not _same(f.get_tensor(k), ours[k])]
    except Exception as exc:
        raise ConfigError(f"{folder}/model.safetensors cannot be read ({_line(exc)})") from None
    unused = [k for k in saved if k not in ours]          # in the file, not in the policy
    unloaded = sorted(set(ours) - set(saved))             # in the policy, left at its random init
    if unused or unloaded or differ:
        bad = (differ or unloaded or unused)[:3]
        raise ConfigError(f"{folder}: LeRobot did not load the checkpoint's weights ({len(unloaded)} of the policy's "
                          f"tensors not in model.safetensors, {len(unused)} of the file's unused, {len(differ)} "
                          f"different, e.g. {', '.join(bad)}); the folder and LeRobot {version}'s {kind} class "
                          "disagree")
    policy.eval()
    steps = {type(s).__name__: s for s in (*pre.steps, *post.steps)}
    extra = [type(s).__name__ for s in (*pre.steps, *post.steps) if type(s).__name__ not in
             (*PASSIVE_STEPS, "NormalizerProcessorStep", "UnnormalizerProcessorStep")]
    renames = getattr(steps.get("RenameObservationsProcessorStep"), "rename_map", {})
    if extra or renames or "NormalizerProcessorStep" not in steps or "UnnormalizerProcessorStep" not in steps:
        what = ", ".join(extra) if extra else "a rename map" if renames else "no normaliser"
        raise ConfigError(f"{folder}: the processors hold steps a fixed graph cannot reproduce yet ({what}); "
                          "supported: normalise -> policy -> unnormalise")
    return Checkpoint(folder, version, policy, steps["NormalizerProcessorStep"], steps["UnnormalizerProcessorStep"],
                      pre, post)


def _same(saved, loaded) -> bool:
    import torch

    return saved.shape == loaded.shape and torch.equal(saved.to(loaded.dtype), loaded)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:240]}" if text else type(exc).__name__
