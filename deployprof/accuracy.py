"""The accuracy of a configuration, measured on the engine that was timed: the same seeded policy steps (same
inputs, same initial noise, same samples) through that backend and through one declared reference (FP32 on a
reference runtime, `ort-cpu:fp32` by default), compared in action space in the manner of Polygraphy's comparator."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .bands import STD_FRACTION, over, passes, verdict
from .errors import ConfigError
from .files import write_stream_atomic
from .inputs import make_inputs
from .manifest import Manifest, LoadedExport, load_subject
from .results import AccuracyResult, OutputError
from .policy import open_policy

SEED = 1000  # of the accuracy samples: apart from the timing inputs' --seed, so that they are other inputs


@dataclass(frozen=True)
class AccuracyCheck:
    """What a measuring process needs to judge its own backend: the reference's outputs at this batch (written by
    write_reference) and the tolerances."""
    reference: str                  # RUNTIME:PRECISION that produced reference_npz
    reference_npz: str
    samples: int = 8
    seed: int = SEED
    atol: Optional[float] = None
    min_cosine: Optional[float] = None
    atol_per_dim: tuple[float, ...] = ()      # limits per action dimension, given by the user


def dim_limits(check: AccuracyCheck, manifest: Manifest, dims: int) -> tuple[tuple[float, ...], Optional[str]]:
    """The per-dimension limits that apply and where they come from: the user's (their count must be the actions'),
    else, with no limits given at all, STD_FRACTION of each dimension's std where the export recorded the
    checkpoint's action statistics (LeRobot), else none."""
    if check.atol_per_dim:
        if len(check.atol_per_dim) != dims:
            raise ConfigError(f"--atol gives {len(check.atol_per_dim)} limits, but the policy's actions have {dims} "
                              f"dimensions: give one limit, or {dims}")
        return tuple(check.atol_per_dim), "given"
    std = manifest.action_std
    if check.atol is None and check.min_cosine is None and len(std) == dims:
        return tuple(STD_FRACTION * s for s in std), f"{STD_FRACTION:g} x the checkpoint's action std"
    return (), None


def action_name(manifest: Manifest) -> str:
    """The policy's action output; a plain .onnx file's first output."""
    return manifest.action_output or manifest.stages[-1].outputs[0].name


def policy_inputs(manifest: Manifest, batch: int, samples: int, seed: int, dims: dict[str, int]) -> list[dict]:
    """The seeded observations and initial noise of each sample; a float16 export gets the same values rounded."""
    return [make_inputs(manifest.external_inputs(), batch=batch, seed=seed + i, dims=manifest.binding(batch, dims))
            for i in range(samples)]


def run_samples(step, externals: list[dict]) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Actions of each sample, and the loop state after each denoising step (error growth over the loop)."""
    name = action_name(step.manifest)
    actions, traces = [], []
    try:
        for ext in externals:
            step.trace = []
            env = step(ext)
            actions.append(np.asarray(env[name], dtype=np.float64))
            traces.append([np.asarray(t, dtype=np.float64) for t in step.trace])
    finally:
        step.trace = None
    return actions, traces


def write_reference(subject: LoadedExport, backend: str, path: Path, batch: int, samples: int, seed: int,
                    dims: dict[str, int]) -> None:
    with open_policy(subject, backend) as step:
        actions, traces = run_samples(step, policy_inputs(subject.manifest, batch, samples, seed, dims))
    arrays = {f"action_{i}": a for i, a in enumerate(actions)}
    arrays.update({f"trace_{i}_{k}": t for i, ts in enumerate(traces) for k, t in enumerate(ts)})
    write_stream_atomic(path, lambda fh: np.savez(fh, **arrays))


def read_reference(path: str, samples: int) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    with np.load(path) as z:
        actions = [z[f"action_{i}"] for i in range(samples)]
        traces = [[z[k] for k in sorted((k for k in z.files if k.startswith(f"trace_{i}_")),
                                        key=lambda k: int(k.rsplit("_", 1)[1]))] for i in range(samples)]
    return actions, traces


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)


def judge(check: AccuracyCheck, manifest: Manifest, backend: str, batch: int, actions: list[np.ndarray],
          traces: list[list[np.ndarray]]) -> AccuracyResult:
    """These actions against the reference's: max / mean / p90 / p99 |error|, relative L2, cosine per sample, per
    action dimension, along the chunk, after each denoising step, and token agreement for discrete actions."""
    ref_a, ref_t = read_reference(check.reference_npz, check.samples)
    n = check.samples
    ref, got = np.stack(ref_a), np.stack(actions)          # [samples, batch, chunk?, dim]
    if ref.shape != got.shape:
        raise ConfigError(f"{backend}: actions of shape {got.shape[1:]} against a reference of {ref.shape[1:]}")
    diff = np.abs(got - ref)
    cos = [_cos(r, g) for r, g in zip(ref.reshape(n * batch, -1), got.reshape(n * batch, -1))]
    err = OutputError(name=action_name(manifest), max_abs=float(diff.max()), mean_abs=float(diff.mean()),
                      p90_abs=float(np.percentile(diff, 90)), p99_abs=float(np.percentile(diff, 99)),
                      rel_l2=float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)),
                      cosine_mean=float(np.mean(cos)), cosine_min=float(np.min(cos)))
    a = diff.reshape(n * batch, *ref.shape[2:])
    per_dim = a.reshape(-1, a.shape[-1]).mean(axis=0) if a.ndim >= 2 else np.array([])
    per_chunk = a.mean(axis=(0, 2)) if a.ndim == 3 else np.array([])
    steps = min((len(t) for t in (*traces, *ref_t)), default=0)
    per_step = np.array([np.mean([np.abs(g[k] - r[k]).mean() for g, r in zip(traces, ref_t)]) for k in range(steps)])
    loop = next((c.loop for c in manifest.schedule if c.loop is not None), None)
    agreement = float(np.mean(np.isclose(got, ref))) if loop is not None and loop.kind == "autoregressive" else None
    dim_max = a.reshape(-1, a.shape[-1]).max(axis=0) if a.ndim >= 2 else np.array([])
    limits, source = dim_limits(check, manifest, len(dim_max))
    status, rule = verdict(err, check.atol, check.min_cosine, tuple(dim_max), limits, source or "given")
    worst = diff.reshape(n * batch, -1).max(axis=1)
    sample_dims = a.reshape(n * batch, -1, a.shape[-1]).max(axis=1) if a.ndim >= 2 else [()] * len(cos)
    outside = sum(not passes(c, float(w), check.atol, check.min_cosine, dim_max=tuple(d), atol_per_dim=limits)
                  for c, w, d in zip(cos, worst, sample_dims))
    return AccuracyResult(
        backend=backend, precision=manifest.precision, batch=batch, reference=check.reference, samples=n,
        seed=check.seed, action=err, per_action_dim_mean_abs=tuple(map(float, per_dim)),
        per_chunk_step_mean_abs=tuple(map(float, per_chunk)), per_denoise_step_mean_abs=tuple(map(float, per_step)),
        verdict=status, rule=rule, token_agreement=agreement, atol=check.atol, min_cosine=check.min_cosine,
        outside=int(outside), per_action_dim_max_abs=tuple(map(float, dim_max)), atol_per_dim=limits,
        atol_per_dim_source=source, failed_dims=tuple(over(tuple(dim_max), limits)) if limits else ())


def measure(check: AccuracyCheck, step, backend: str, batch: int, dims: dict[str, int]) -> AccuracyResult:
    """The accuracy of an open policy (the very backends that were timed)."""
    actions, traces = run_samples(step, policy_inputs(step.manifest, batch, check.samples, check.seed, dims))
    ran = sorted({b.build_info.precision_effective for b in step.backends.values() if b.build_info is not None})
    return dataclasses.replace(judge(check, step.manifest, backend, batch, actions, traces),
                               ran_as="; ".join(ran) or None)


def compare(reference: "str | Path | LoadedExport", candidate: "str | Path | LoadedExport", *, backend: str = "ort-cpu",
            reference_backend: str = "ort-cpu", samples: int = 8, seed: int = SEED, batch: int = 1,
            atol: Optional[float] = None, min_cosine: Optional[float] = None,
            atol_per_dim: tuple[float, ...] = ()) -> AccuracyResult:
    """One configuration in this process: the reference's actions written aside, then the candidate judged."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="deployprof-ref-") as tmp:
        check = AccuracyCheck(f"{reference_backend}:fp32", str(Path(tmp) / "reference.npz"), samples, seed, atol,
                              min_cosine, atol_per_dim)
        write_reference(load_subject(reference), reference_backend, Path(check.reference_npz), batch, samples, seed, {})
        with open_policy(load_subject(candidate), backend) as step:
            return measure(check, step, backend, batch, {})
