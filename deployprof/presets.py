"""Preset YAML files: found in the package data (an installed wheel) or given as a path."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

FAMILIES = ("pi0",)

SCHEMA: dict[str, dict[str, type] | type] = {
    "name": str, "family": str, "description": str, "seed": int, "cameras": int, "prompt_tokens": int,
    "vision": {"image_size": int, "patch_size": int, "width": int, "layers": int, "heads": int, "mlp": int},
    "trunk": {"width": int, "layers": int, "heads": int, "kv_heads": int, "head_dim": int, "mlp": int, "vocab": int},
    "expert": {"width": int, "mlp": int},
    "action": {"chunk": int, "dim": int, "state_dim": int, "steps": int},
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


def _validate(cfg: Any, where: str) -> None:
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a YAML mapping of preset fields, got {type(cfg).__name__}")
    for key, kind in SCHEMA.items():
        if key not in cfg:
            raise ConfigError(f"{where}: missing field '{key}' (see models/tiny-vla.yaml for a complete preset)")
        if isinstance(kind, dict):
            sub = cfg[key]
            if not isinstance(sub, dict):
                raise ConfigError(f"{where}: '{key}' must be a mapping with {sorted(kind)}")
            for k, t in kind.items():
                v = sub.get(k)
                if not isinstance(v, t) or isinstance(v, bool) or (t is int and v <= 0):
                    raise ConfigError(f"{where}: '{key}.{k}' must be a positive integer, got {v!r}")
        elif not isinstance(cfg[key], kind) or (kind is int and (isinstance(cfg[key], bool) or cfg[key] < 0)):
            raise ConfigError(f"{where}: '{key}' must be {'a non-negative integer' if kind is int else 'a string'}, got {cfg[key]!r}")
    if cfg["family"] not in FAMILIES:
        raise ConfigError(f"{where}: unknown family {cfg['family']!r}; this version builds {', '.join(FAMILIES)}")
    v, t = cfg["vision"], cfg["trunk"]
    if v["image_size"] % v["patch_size"] or v["width"] % v["heads"] or t["heads"] % t["kv_heads"] or t["head_dim"] % 2:
        raise ConfigError(f"{where}: image_size must divide by patch_size, vision width by heads, trunk heads by "
                          "kv_heads, and head_dim must be even")


def load_preset(name_or_path: str | Path) -> Preset:
    path = Path(name_or_path)
    if not path.suffix:
        path = presets_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(p.stem for p in sorted(presets_dir().glob("*.yaml")))
            raise ConfigError(f"unknown preset {str(name_or_path)!r}; known presets: {known} (or pass a path to a YAML file)")
    if not path.exists():
        raise ConfigError(f"preset file not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{at} ({getattr(exc, 'problem', exc)})") from None
    _validate(cfg, str(path))
    return Preset(name=cfg["name"], path=path, config=cfg)
