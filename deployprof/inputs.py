"""Seeded, valid inputs from tensor specs; symbolic dims bound by --dim / --shape."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .errors import ConfigError
from .manifest import TensorSpec

FREE_FRACTION = 0.5  # generated inputs may take at most this share of the memory free when they are made


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


def _itemsize(spec: TensorSpec) -> int:
    return 4 if spec.dtype == "bfloat16" else np.dtype(spec.dtype).itemsize


def check_fits(need: dict[str, tuple[tuple[int, ...], int]], what: str = "inputs") -> None:
    """Refuse, before allocating, tensors that would not fit in the memory this machine has free: a declared
    [10^8, 4] input or a bound dim of 10^12 is one clear error, not gigabytes of swap or a MemoryError."""
    import psutil

    total = sum(math.prod(shape) * size for shape, size in need.values())
    free = psutil.virtual_memory().available
    if total > FREE_FRACTION * free:
        name, (shape, _) = max(need.items(), key=lambda kv: math.prod(kv[1][0]) * kv[1][1])
        raise ConfigError(f"the {what} need {_gib(total)} (largest: {name} {list(shape)}), more than {FREE_FRACTION:.0%} of "
                          f"the {_gib(free)} free here; lower --batch or the bound dims (--dim/--shape)")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.2f} GiB"


def make_inputs(specs: Iterable[TensorSpec], *, batch: int = 1, seed: int = 0,
                dims: Optional[dict[str, int]] = None, shapes: Optional[dict[str, tuple[int, ...]]] = None,
                npz: Optional[Path] = None, npz_option: str = "--inputs") -> dict[str, np.ndarray]:
    specs = list(specs)
    given: dict[str, np.ndarray] = {}
    if npz is not None:
        try:
            with np.load(npz, allow_pickle=False) as data:
                given = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ConfigError(f"{npz_option} {npz}: not a readable .npz file ({exc})") from None
        missing = [s.name for s in specs if s.name not in given]
        if missing:
            raise ConfigError(f"{npz_option} {npz} lacks {missing}; it has {sorted(given)}")
    all_dims = {"batch": batch, **(dims or {})}
    wanted = {s.name: (resolve_shape(s, all_dims, shapes or {}), _itemsize(s)) for s in specs if s.name not in given}
    check_fits(wanted)
    rng = np.random.default_rng(seed)
    return {s.name: given[s.name] if s.name in given else make_tensor(s, wanted[s.name][0], rng) for s in specs}
