"""Engines on disk under a key of everything that changes the engine: model bytes, precision mode, shapes,
TensorRT version, GPU and compute capability, builder settings. The provenance record sits next to each engine;
an engine whose record names another GPU or TensorRT is never loaded, whatever its file name says."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping, Optional

from ..files import cache_root, write_bytes_atomic, write_json_atomic
from ..results import EngineProvenance
from ..serial import from_dict, to_dict


def default_cache_dir() -> Path:
    return cache_root() / "engines"


def cache_key(*, onnx_sha256: str, precision: str, build_mode: str, shape_profile: Mapping, tensorrt_version: str,
              gpu_name: str, compute_capability: str, builder_settings: Mapping[str, str]) -> str:
    payload = {"onnx": onnx_sha256, "precision": precision, "mode": build_mode,
               "shapes": {k: [list(s) for s in v] for k, v in sorted(shape_profile.items())},
               "trt": tensorrt_version, "gpu": gpu_name, "cc": compute_capability,
               "settings": dict(sorted(builder_settings.items()))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def timing_cache_path(root: Path, tensorrt_version: str, compute_capability: str) -> Path:
    """Shared by every build on this TensorRT and GPU architecture (tactic timings carry over between models)."""
    return Path(root) / f"timing-trt{tensorrt_version}-sm{compute_capability.replace('.', '')}.cache"


class EngineCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.engine", self.root / f"{key}.json"

    def lookup(self, key: str, tensorrt_version: str, gpu_name: str, compute_capability: str
               ) -> tuple[Optional[bytes], Optional[EngineProvenance], Optional[str]]:
        """(engine bytes, provenance, None) when reusable; (None, None, why not) otherwise."""
        engine, record = self.paths(key)
        if not engine.exists() or not record.exists():
            return None, None, "not cached"
        try:
            prov = from_dict(EngineProvenance, json.loads(record.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:  # UnicodeDecodeError is a ValueError
            return None, None, f"unreadable provenance record ({exc})"
        mismatch = [f"{what} {got!r} != {want!r}" for what, got, want in (
            ("TensorRT", prov.tensorrt_version, tensorrt_version), ("GPU", prov.gpu_name, gpu_name),
            ("compute capability", prov.compute_capability, compute_capability)) if got != want]
        if mismatch:
            return None, None, "built for another target: " + "; ".join(mismatch)
        data = engine.read_bytes()
        if len(data) != prov.engine_bytes:
            return None, None, f"engine file is {len(data)} bytes, provenance says {prov.engine_bytes} (truncated?)"
        return data, prov, None

    def store(self, key: str, engine_bytes: bytes, provenance: EngineProvenance) -> None:
        engine, record = self.paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(engine, engine_bytes)
        write_json_atomic(record, to_dict(provenance))
