"""Seeded, valid inputs from tensor specs; symbolic dims bound by --dim / --shape."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .errors import ConfigError, ModelError
from .files import regular_file
from .manifest import GENERATED_DTYPES, TensorSpec

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


def _dtype(spec: TensorSpec) -> np.dtype:
    return np.dtype("float32") if spec.dtype == "bfloat16" else np.dtype(spec.dtype)


def read_npz(path: Path, option: str, specs: list[TensorSpec], dims: dict[str, int],
             shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The arrays of an .npz someone handed us, each checked against the input it feeds from its header, before a
    byte of it is read or inflated: no pickled objects, no key the graph has no input for, the input's dtype, and
    its shape (static dims as declared, bound dims as bound, a free dim the same wherever it appears)."""
    import zipfile

    regular_file(path, option)
    wanted = {s.name: s for s in specs}
    where = f"{option} {path}"
    try:
        with zipfile.ZipFile(path) as zf:
            members = {(n[:-4] if n.endswith(".npy") else n): n for n in zf.namelist()}
            extra = sorted(set(members) - set(wanted))
            if extra:
                raise ConfigError(f"{where}: {extra} feed no input of the graph (its inputs: {sorted(wanted)}); "
                                  "remove or rename them")
            missing = [name for name in wanted if name not in members]
            if missing:
                raise ConfigError(f"{where} lacks {missing}; it has {sorted(members)}")
            free: dict[str, int] = {}
            for key, member in members.items():
                with zf.open(member) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(fh)
                _check_array(where, wanted[key], tuple(shape), dtype, dims, shapes, free)
            check_fits({k: (_declared(wanted[k], dims, shapes, free), _itemsize(wanted[k])) for k in members},
                       f"arrays of {where}")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[m[:-4] if m.endswith(".npy") else m] for k, m in members.items()}
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ConfigError(f"{where}: not a readable .npz file ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None


def _check_array(where: str, spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype, dims: dict[str, int],
                 shapes: dict[str, tuple[int, ...]], free: dict[str, int]) -> None:
    if dtype.hasobject:
        raise ConfigError(f"{where}: {spec.name} holds Python objects (pickled); deployprof never unpickles a file")
    if dtype != _dtype(spec):
        raise ConfigError(f"{where}: {spec.name} is {dtype}, the input expects {_dtype(spec)} (convert it with "
                          f"arr.astype('{_dtype(spec)}'))")
    declared = shapes.get(spec.name, spec.shape)
    ok = len(shape) == len(declared)
    for got, d in zip(shape, declared) if ok else ():
        want = d if isinstance(d, int) else dims.get(d, free.setdefault(d, got))
        ok = ok and got == want
    if not ok:
        shown = "x".join(str(d if isinstance(d, int) else dims.get(d, d)) for d in declared)
        raise ConfigError(f"{where}: {spec.name} has shape {list(shape)}, the input expects {shown} "
                          "(bind its dims with --batch/--dim/--shape to match)")


def _declared(spec: TensorSpec, dims: dict[str, int], shapes: dict[str, tuple[int, ...]],
              free: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else dims.get(d, free.get(d, 1)) for d in shapes.get(spec.name, spec.shape))


def make_inputs(specs: Iterable[TensorSpec], *, batch: int = 1, seed: int = 0,
                dims: Optional[dict[str, int]] = None, shapes: Optional[dict[str, tuple[int, ...]]] = None,
                npz: Optional[Path] = None, npz_option: str = "--inputs") -> dict[str, np.ndarray]:
    specs = list(specs)
    all_dims = {"batch": batch, **(dims or {})}
    given = read_npz(Path(npz), npz_option, specs, all_dims, shapes or {}) if npz is not None else {}
    for s in specs:
        if s.name not in given and s.dtype not in GENERATED_DTYPES:
            raise ModelError(f"input {s.name!r} has element type {s.dtype}, which deployprof cannot generate; pass "
                             f"{npz_option} FILE.npz holding it")
    wanted = {s.name: (resolve_shape(s, all_dims, shapes or {}), _itemsize(s)) for s in specs if s.name not in given}
    check_fits(wanted)
    rng = np.random.default_rng(seed)
    return {s.name: given[s.name] if s.name in given else make_tensor(s, wanted[s.name][0], rng) for s in specs}
