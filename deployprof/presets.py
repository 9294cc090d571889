"""Preset YAML files: found in the package data (an installed wheel) or given as a path."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


from .errors import ConfigError
from .files import parse_yaml, read_document

VIT = ("image_size", "patch_size", "width", "layers", "heads", "mlp")
LM = ("width", "layers", "heads", "kv_heads", "head_dim", "mlp", "vocab")
COMMON = {"name": str, "family": str, "description": str, "seed": int}
# Per family: top-level integers, and sections with the integer fields each must have.
FAMILY_SCHEMAS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "pi0": (("cameras", "prompt_tokens"), {"vision": VIT, "trunk": LM, "expert": ("width", "mlp"),
                                             "action": ("chunk", "dim", "state_dim", "steps")}),
    "openvla": (("cameras", "prompt_tokens"), {"vision": VIT, "vision2": ("width", "layers", "heads", "mlp"),
                                                 "projector": ("hidden",), "trunk": LM, "action": ("dim", "bins")}),
    "openvla_oft": (("cameras", "prompt_tokens"), {"vision": VIT, "vision2": ("width", "layers", "heads", "mlp"),
                                                     "projector": ("hidden",), "trunk": LM, "head": ("hidden", "blocks"),
                                                     "action": ("chunk", "dim")}),
    "smolvla": (("cameras", "prompt_tokens"), {"vision": VIT + ("shuffle",), "trunk": LM,
                                                 "expert": ("width", "mlp", "heads", "head_dim"),
                                                 "action": ("chunk", "dim", "state_dim", "steps")}),
    "groot": (("cameras", "prompt_tokens"), {"vision": VIT + ("shuffle",), "trunk": LM, "dit": ("width", "layers", "heads", "mlp"),
                                               "action": ("chunk", "dim", "state_dim", "future_tokens", "steps")}),
    "octo": (("cameras", "prompt_tokens"), {"vision": ("image_size", "patch_size"), "trunk": ("width", "layers", "heads", "mlp"),
                                              "head": ("width", "blocks"), "action": ("chunk", "dim", "steps")}),
    "act": (("cameras", "image_height", "image_width", "latent_dim"),
            {"backbone": ("width",), "transformer": ("width", "heads", "ff", "enc_layers", "dec_layers"),
             "action": ("chunk", "dim", "state_dim")}),
}


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    config: dict[str, Any]

    @property
    def family(self) -> str:
        return self.config["family"]


def presets_dir() -> Path:
    repo = Path(__file__).resolve().parent.parent / "models"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("deployprof._models")))


def list_presets() -> list[Preset]:
    return [load_preset(p) for p in sorted(presets_dir().glob("*.yaml"))]


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _validate(cfg: Any, where: str) -> None:
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a YAML mapping of preset fields, got {type(cfg).__name__}")
    for key, kind in COMMON.items():
        if key not in cfg:
            raise ConfigError(f"{where}: missing field '{key}' (see models/tiny-vla.yaml for a complete preset)")
        if not isinstance(cfg[key], kind) or isinstance(cfg[key], bool):
            raise ConfigError(f"{where}: '{key}' must be {'an integer' if kind is int else 'a string'}, got {cfg[key]!r}")
    if cfg["family"] not in FAMILY_SCHEMAS:
        raise ConfigError(f"{where}: unknown family {cfg['family']!r}; expected one of {', '.join(FAMILY_SCHEMAS)}")
    top, sections = FAMILY_SCHEMAS[cfg["family"]]
    for key in top:
        if not _positive_int(cfg.get(key)):
            raise ConfigError(f"{where}: '{key}' must be a positive integer, got {cfg.get(key)!r}")
    for section, fields in sections.items():
        sub = cfg.get(section)
        if not isinstance(sub, dict):
            raise ConfigError(f"{where}: '{section}' must be a mapping with {', '.join(fields)}")
        for f in fields:
            if not _positive_int(sub.get(f)):
                raise ConfigError(f"{where}: '{section}.{f}' must be a positive integer, got {sub.get(f)!r}")
    v, t = cfg.get("vision", {}), cfg.get("trunk", {})
    if v and v["image_size"] % v["patch_size"]:
        raise ConfigError(f"{where}: vision.image_size must be a multiple of vision.patch_size")
    if "shuffle" in v and ((v["image_size"] // v["patch_size"]) % v["shuffle"]):
        raise ConfigError(f"{where}: vision.shuffle must divide the patch grid side")
    if "kv_heads" in t and (t["heads"] % t["kv_heads"] or t["head_dim"] % 2):
        raise ConfigError(f"{where}: trunk.heads must be a multiple of trunk.kv_heads, and head_dim even")
    for section in ("vision", "vision2", "dit", "transformer"):
        sub = cfg.get(section, {})
        if "heads" in sub and "width" in sub and sub["width"] % sub["heads"]:
            raise ConfigError(f"{where}: {section}.width must be a multiple of {section}.heads")


def load_preset(name_or_path: str | Path) -> Preset:
    path = Path(name_or_path)
    if not path.suffix:
        path = presets_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            names = [p.stem for p in sorted(presets_dir().glob("*.yaml"))]
            close = difflib.get_close_matches(str(name_or_path).lower(), names, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"unknown preset {str(name_or_path)!r}; {hint}known presets: {', '.join(names)} (or pass "
                              "a path to a YAML file)")
    cfg = parse_yaml(read_document(path, "preset YAML"), f"{path} (a preset YAML)")
    _validate(cfg, str(path))
    return Preset(name=cfg["name"], path=path, config=cfg)
