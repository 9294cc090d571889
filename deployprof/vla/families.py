"""The family registry: preset YAML -> stages (modules + tensor specs) and how a policy step calls them."""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch.overrides import TorchFunctionMode

from ..presets import Preset
from ..registry import Registry
from . import act, groot, octo, openvla, pi0, smolvla
from .common import FamilyBuild, StageModule

FAMILIES: Registry = Registry("model family")
FAMILIES.add("pi0", pi0.build)
FAMILIES.add("openvla", openvla.build_openvla)
FAMILIES.add("openvla_oft", openvla.build_oft)
FAMILIES.add("smolvla", smolvla.build)
FAMILIES.add("groot", groot.build)
FAMILIES.add("octo", octo.build)
FAMILIES.add("act", act.build)

__all__ = ["FAMILIES", "FamilyBuild", "StageModule", "build_stages", "count_parameters"]


def build_stages(preset: Preset, device: str = "cpu") -> FamilyBuild:
    """Seeded construction: the same preset always gives the same weights (export and torch backend agree)."""
    torch.manual_seed(int(preset.config["seed"]))
    with torch.device(device), (_NoInitOnMeta() if torch.device(device).type == "meta" else nullcontext()):
        build = FAMILIES.get(preset.family)(preset.config)
    for s in build.stages:
        s.module.eval()
    return build


class _NoInitOnMeta(TorchFunctionMode):
    """Skips in-place random initialisation of meta tensors: it draws nothing there, and its first call loads
    torch's Python decompositions (about 3 s of `deployprof models`)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes its tensor by keyword
        if getattr(func, "__name__", "") in ("normal_", "uniform_") and getattr(target, "is_meta", False):
            return target
        return func(*args, **kwargs)


def count_parameters(preset: Preset, build: FamilyBuild | None = None) -> dict[str, int]:
    """Per-stage parameter counts on the meta device (no memory; works for full-size presets). Weights a
    stage shares with another (OpenVLA's decode step reuses the prefill's) are counted once."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    for s in (build or build_stages(preset, device="meta")).stages:
        params = [p for p in s.module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        out[s.name] = sum(p.numel() for p in params)
    return out
