"""Optimisation profiles (min/opt/max per input) from the manifest: the batch being measured, named dims bound
to one value, and the one axis that really varies within a policy step, an autoregressive KV cache, spanning
every length the decode loop feeds it. --shape fixes an input outright."""
from __future__ import annotations

from typing import Mapping

from ..errors import ConfigError
from ..manifest import Manifest, StageSpec

Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]


def growing_ranges(manifest: Manifest, stage: str, dims: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """dim -> (first, last) length over one policy step, for loops that grow a cache along `growing_dim`."""
    out = {}
    for call in manifest.schedule:
        loop = call.loop
        if call.stage != stage or loop is None or loop.kind != "autoregressive" or not loop.growing_dim:
            continue
        if loop.growing_dim not in dims:
            raise ConfigError(f"stage {stage}: no starting length for the growing dim {loop.growing_dim!r}; pass --dim {loop.growing_dim}=N")
        first = dims[loop.growing_dim]
        # The decode stage runs steps - 1 times; call i sees first + i cached positions.
        out[loop.growing_dim] = (first, first + max(loop.steps - 2, 0))
    return out


def derive_profile(manifest: Manifest, stage: StageSpec, batch: int, dims: Mapping[str, int],
                   shapes: Mapping[str, Shape]) -> Profile:
    dims = manifest.binding(batch, dict(dims))
    growing = growing_ranges(manifest, stage.name, dims)
    profile: Profile = {}
    for spec in stage.inputs:
        if spec.name in stage.weight_inputs:
            continue
        if spec.name in shapes:
            fixed = tuple(int(d) for d in shapes[spec.name])
            profile[spec.name] = (fixed, fixed, fixed)
            continue
        ranges: list[tuple[int, int, int]] = []   # (min, opt, max) per axis
        for d in spec.shape:
            if isinstance(d, int):
                ranges.append((d, d, d))
            elif d in growing:
                a, b = growing[d]
                # Tuned for the longest cache: the last decode call bounds the step's latency.
                ranges.append((a, b, b))
            elif d in dims:
                ranges.append((dims[d], dims[d], dims[d]))
            else:
                raise ConfigError(f"stage {stage.name}: input {spec.name} has a dim {d!r} with no value; pass --dim {d}=N "
                                  f"or --shape {spec.name}=AxB...")
        lo, opt, hi = (tuple(r[k] for r in ranges) for k in range(3))
        profile[spec.name] = (lo, opt, hi)
    return profile


def is_static(profile: Profile) -> bool:
    return all(lo == hi for lo, _, hi in profile.values())
