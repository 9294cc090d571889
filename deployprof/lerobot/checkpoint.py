"""A LeRobot checkpoint folder loaded with LeRobot's own classes: the policy (its weights checked against the
safetensors file: LeRobot prints "Returning model without loading pretrained weights" and goes on when loading
fails), and the normaliser and unnormaliser steps of its processors, which the export puts into the graphs."""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DeployprofError
from ..files import confine, parse_json, read_document
from . import INSTALL, UNSUPPORTED, is_checkpoint, lerobot_version

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

    @property
    def action_std(self) -> tuple[float, ...]:
        """Each action dimension's std in the checkpoint's statistics (the default per-joint accuracy limits are a
        fraction of it); () where it has none."""
        stats = (getattr(self.unnormalizer, "_tensor_stats", None) or {}).get("action", {})
        std = stats.get("std") if isinstance(stats, dict) else None
        if std is None:
            return ()
        import torch

        return tuple(float(v) for v in torch.as_tensor(std).flatten())


def load_checkpoint(folder: Path, supported: tuple[str, ...]) -> Checkpoint:
    """Every failure is one ConfigError line naming the folder and what to do."""
    if not is_checkpoint(folder):   # LeRobot would take any other path for a hub repository id
        raise ConfigError(f"--lerobot {folder}: not a LeRobot checkpoint folder (expected config.json naming a policy "
                          "type beside model.safetensors: the pretrained_model folder LeRobot's save_pretrained writes)")
    version = lerobot_version()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")   # a checkpoint folder is read as it is: never the hub
    try:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors
        from safetensors import safe_open
    except ImportError as exc:  # an install missing one of LeRobot's own dependencies
        raise ConfigError(f"LeRobot {version} is installed but cannot be imported ({_line(exc)}); install what it "
                          f"names, or reinstall: {INSTALL}") from None

    folder = Path(folder)
    _confine_state_files(folder)
    _check_safetensors(folder / "model.safetensors")
    try:
        config = PreTrainedConfig.from_pretrained(str(folder))
    except (Exception, SystemExit) as exc:  # LeRobot's own refusal, whatever its type (its parser may sys.exit)
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
        except (Exception, SystemExit) as exc:
            raise ConfigError(f"{folder}: LeRobot {version} cannot load this {kind} checkpoint "
                              f"({_line(exc)})") from None
    ours = policy.state_dict()
    try:  # one tensor at a time: a second copy of every weight is not needed to compare them
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            saved = list(f.keys())
            differ = [k for k in saved if k in ours and not _same(f.get_tensor(k), ours[k])]
            cast = [(k, f.get_slice(k).get_dtype()) for k in saved if k in ours and k not in differ
                    and _dtype_name(f.get_slice(k).get_dtype()) != str(ours[k].dtype).replace("torch.", "")]
    except Exception as exc:
        raise ConfigError(f"{folder}/model.safetensors cannot be read ({_line(exc)})") from None
    if cast:  # LeRobot casts them silently into the policy's parameters: not the weights that were trained
        k, dtype = cast[0]
        raise ConfigError(f"{folder}/model.safetensors holds {len(cast)} tensor(s) of another dtype than the policy's "
                          f"(e.g. {k}: {_dtype_name(dtype)}, the policy's {str(ours[k].dtype).replace('torch.', '')}); save the "
                          "checkpoint again from the trained policy")
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
    for name in ("NormalizerProcessorStep", "UnnormalizerProcessorStep"):
        _check_stats(folder, steps[name])
    return Checkpoint(folder, version, policy, steps["NormalizerProcessorStep"], steps["UnnormalizerProcessorStep"],
                      pre, post)


PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")
SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
                      "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def _dtype_name(safetensors_dtype: str) -> str:
    return SAFETENSORS_DTYPES.get(safetensors_dtype, safetensors_dtype.lower())


MAX_SAFETENSORS_HEADER = 100 << 20   # safetensors' own bound on its JSON header


def _check_safetensors(path: Path) -> None:
    """A safetensors file is an 8-byte header length, that JSON header, then the data: a copy cut short or a length
    that is not one is named here, before LeRobot's loader says only "invalid header length"."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else -1
    if not 2 <= n <= min(size - 8, MAX_SAFETENSORS_HEADER):
        raise ConfigError(f"{path}: not a whole safetensors file (a header of {n:,} bytes in a file of {size:,}); "
                          "copy the checkpoint again")


def _confine_state_files(folder: Path) -> None:
    """The processors' state files (their statistics) must lie in the checkpoint folder: LeRobot opens whatever path
    the JSON names. Checked before LeRobot reads anything."""
    for name in PROCESSOR_FILES:
        path = folder / name
        if not path.is_file():
            continue   # LeRobot says which file is missing
        data = parse_json(read_document(path, f"{name} (a LeRobot processor)"), str(path), ConfigError)
        steps = data.get("steps") if isinstance(data, dict) else None
        for step in steps if isinstance(steps, list) else ():
            state = step.get("state_file") if isinstance(step, dict) else None
            if state is not None:
                try:
                    confine(folder, state, f"{name}: state_file")
                except DeployprofError as exc:
                    raise ConfigError(str(exc)) from None


def _check_stats(folder: Path, step) -> None:
    """Normalisation statistics a policy can be run with: finite, and a positive std where a feature is normalised
    by mean and std (a zero std turns every observation off its mean into +-1e8)."""
    import torch

    modes = {k: step.norm_map.get(f.type) for k, f in (step.features or {}).items()}
    for key, stats in (getattr(step, "_tensor_stats", None) or {}).items():
        for stat, t in stats.items():
            t = torch.as_tensor(t)
            if not bool(torch.isfinite(t).all()):
                raise ConfigError(f"{folder}: the normalisation statistics of {key} hold a value that is not finite "
                                  f"({stat}); compute the dataset statistics again")
            if stat == "std" and str(getattr(modes.get(key), "value", "")) == "MEAN_STD" and not bool((t > 0).all()):
                raise ConfigError(f"{folder}: the normalisation statistics of {key} hold a std of {float(t.min()):g}; "
                                  "a std must be positive (a constant feature: drop it, or normalise it by min/max)")


def _same(saved, loaded) -> bool:
    import torch

    return saved.shape == loaded.shape and torch.equal(saved.to(loaded.dtype), loaded)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:240]}" if text else type(exc).__name__
