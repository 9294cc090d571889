"""Seeded, valid inputs from tensor specs; symbolic dims bound by --dim / --shape."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .errors import ConfigError
from .manifest import TensorSpec


def resolve_shape(spec: TensorSpec, dims: dict[str, int], shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    if spec.name in shapes:
        return tuple(shapes[spec.name])
    out = []
    for d in spec.shape:
        if isinstance(d, int):
            out.append(d)
        elif d in dims:
            out.append(dims[d])
        else:
            raise ConfigError(f"input {spec.name!r} has symbolic dimension {d!r}; bind it with --dim {d}=N "
                              f"or --shape {spec.name}=" + "x".join(str(x) if isinstance(x, int) else "N" for x in spec.shape))
    return tuple(out)


def make_tensor(spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(spec.dtype) if spec.dtype != "bfloat16" else np.dtype("float32")
    if spec.dist == "int":
        return rng.integers(int(spec.low or 0), int(spec.high or 2), size=shape).astype(dtype)
    if spec.dist == "ones":
        return np.ones(shape, dtype)
    if spec.dist == "uniform":
        return rng.uniform(spec.low if spec.low is not None else -1.0, spec.high if spec.high is not None else 1.0, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def make_inputs(specs: Iterable[TensorSpec], *, batch: int = 1, seed: int = 0,
                dims: Optional[dict[str, int]] = None, shapes: Optional[dict[str, tuple[int, ...]]] = None,
                npz: Optional[Path] = None) -> dict[str, np.ndarray]:
    specs = list(specs)
    given: dict[str, np.ndarray] = {}
    if npz is not None:
        try:
            with np.load(npz) as data:
                given = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--inputs {npz}: not a readable .npz file ({exc})") from None
        missing = [s.name for s in specs if s.name not in given]
        if missing:
            raise ConfigError(f"--inputs {npz} lacks {missing}; it has {sorted(given)}")
    all_dims = {"batch": batch, **(dims or {})}
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        out[s.name] = given[s.name] if s.name in given else make_tensor(s, resolve_shape(s, all_dims, shapes or {}), rng)
    return out
