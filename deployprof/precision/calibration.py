"""Representative stage inputs for INT8 calibration: external inputs (generated from the manifest's specs with
a fixed seed, or the user's recorded observations) pushed through the FP32 policy, so that every stage is
calibrated on what it really receives in a policy step."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ConfigError
from ..files import confine
from ..inputs import make_inputs
from ..manifest import Manifest, LoadedExport
from ..policy import open_policy


def external_samples(manifest: Manifest, count: int, seed: int, source: Optional[Path]) -> tuple[list[dict], str]:
    """A list of external-input dicts and a description of where they came from."""
    specs = manifest.external_inputs()
    if source is None:
        return ([make_inputs(specs, batch=1, seed=seed + i, dims=manifest.binding(1)) for i in range(count)],
                f"generated from manifest input specs (seed {seed}..{seed + count - 1})")
    files = sorted(source.glob("*.npz")) if source.is_dir() else [source]
    if not files:
        raise ConfigError(f"--calibration {source}: no .npz files found")
    if source.is_dir():  # a link in the folder must not lead outside it
        files = [confine(source, f.name, f"--calibration {source}: file") for f in files]
    samples = [make_inputs(specs, npz=f, dims=manifest.binding(1), npz_option="--calibration") for f in files[:count]]
    return samples, f"recorded observations: {len(samples)} file(s) from {source}"


def fingerprint(samples: dict[str, list[dict]]) -> str:
    h = hashlib.sha256()
    for stage in sorted(samples):
        for feeds in samples[stage]:
            for name in sorted(feeds):
                h.update(name.encode())
                h.update(np.ascontiguousarray(feeds[name]).tobytes())
    return h.hexdigest()


def stage_samples(manifest: Manifest, root: Path, externals: list[dict]) -> dict[str, list[dict]]:
    """Run the FP32 policy on ONNX Runtime CPU and keep every stage call's inputs."""
    with open_policy(LoadedExport(manifest, root, str(root)), "ort-cpu") as step:
        step.recorder = {}
        for ext in externals:
            step(ext)
        return step.recorder
