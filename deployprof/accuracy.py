"""The accuracy cost of a precision: the same seeded inputs and the same initial noise through the FP32
export and the reduced-precision one, compared in action space."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .backends import BACKENDS, BackendOptions
from .inputs import make_inputs
from .manifest import Manifest, load_subject
from .policy import PolicyStep
from .results import AccuracyResult, OutputError


def _run(manifest: Manifest, root: Path, backend: str, externals: list[dict]) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    backends = {s.name: BACKENDS.get(backend)(s, root, manifest, BackendOptions()) for s in manifest.stages}
    actions, traces = [], []
    try:
        for b in backends.values():
            b.load()
        step = PolicyStep(manifest, backends)
        for ext in externals:
            step.trace = []
            env = step(ext)
            actions.append(np.asarray(env[manifest.action_output], dtype=np.float64))
            traces.append([np.asarray(t, dtype=np.float64) for t in step.trace])
    finally:
        for b in backends.values():
            if b.build_info is not None:
                b.close()
    return actions, traces


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)


def compare(reference: str | Path, candidate: str | Path, *, samples: int = 8, seed: int = 1000, backend: str = "ort-cpu",
            atol: Optional[float] = None, min_cosine: Optional[float] = None) -> AccuracyResult:
    ref_m, ref_root = load_subject(reference)
    cand_m, cand_root = load_subject(candidate)
    # The same seeds draw the same values for both; a float16 export receives them rounded to its input dtype.
    inputs = lambda m: [make_inputs(m.external_inputs(), batch=1, seed=seed + i, dims=m.default_dims)  # noqa: E731
                        for i in range(samples)]
    ref_a, ref_t = _run(ref_m, ref_root, backend, inputs(ref_m))
    got_a, got_t = _run(cand_m, cand_root, backend, inputs(cand_m))
    ref = np.stack(ref_a)   # [samples, 1, chunk?, dim]
    got = np.stack(got_a)
    diff = np.abs(got - ref)
    flat_r, flat_g = ref.reshape(samples, -1), got.reshape(samples, -1)
    cos = [_cos(r, g) for r, g in zip(flat_r, flat_g)]
    err = OutputError(name=ref_m.action_output, max_abs=float(diff.max()), mean_abs=float(diff.mean()),
                      rel_l2=float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)),
                      cosine_mean=float(np.mean(cos)), cosine_min=float(np.min(cos)))
    a = diff.reshape(samples, *ref.shape[2:])  # drop the batch axis of 1
    per_dim = a.reshape(-1, a.shape[-1]).mean(axis=0)
    per_chunk = a.mean(axis=(0, 2)) if a.ndim == 3 else np.array([])
    per_step = np.array([np.mean([np.abs(g[i] - r[i]).mean() for g, r in zip(got_t, ref_t)]) for i in range(len(ref_t[0]))]) \
        if ref_t and ref_t[0] else np.array([])
    loop = next((c.loop for c in ref_m.schedule if c.loop is not None), None)
    agreement = None
    if loop is not None and loop.kind == "autoregressive":
        agreement = float(np.mean(np.isclose(got, ref)))
    passed = None
    if atol is not None or min_cosine is not None:
        passed = (atol is None or err.max_abs <= atol) and (min_cosine is None or err.cosine_min >= min_cosine)
    return AccuracyResult(
        precision=cand_m.precision, reference_precision=ref_m.precision, backend=backend, samples=samples, seed=seed,
        action=err, per_action_dim_mean_abs=tuple(map(float, per_dim)), per_chunk_step_mean_abs=tuple(map(float, per_chunk)),
        per_denoise_step_mean_abs=tuple(map(float, per_step)), token_agreement=agreement,
        atol=atol, min_cosine=min_cosine, passed=passed)
