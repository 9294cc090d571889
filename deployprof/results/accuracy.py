"""Accuracy in action space against a reference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class OutputError:
    """Absolute errors over every element of the output, relative L2 over all of it, cosine per sample."""
    name: str
    max_abs: float
    mean_abs: float
    rel_l2: float
    cosine_mean: float
    cosine_min: float
    p90_abs: Optional[float] = None   # None only in reports of schema 1
    p99_abs: Optional[float] = None


@dataclass(frozen=True)
class AccuracyResult:
    """One configuration (backend, precision, batch) against the reference: the same seeded policy steps (inputs,
    initial noise) through the backend that was timed and through FP32 on the reference runtime."""
    backend: str
    precision: str
    batch: int
    reference: str                            # RUNTIME:PRECISION that produced the reference, e.g. ort-cpu:fp32
    samples: int
    seed: int
    action: OutputError
    per_action_dim_mean_abs: tuple[float, ...]
    per_chunk_step_mean_abs: tuple[float, ...]
    per_denoise_step_mean_abs: tuple[float, ...]
    verdict: str                              # PASS | WARN | FAIL
    rule: str                                 # what decided it: the given limits, or the default bands
    token_agreement: Optional[float] = None   # discrete-action policies: share of identical action bins
    atol: Optional[float] = None
    min_cosine: Optional[float] = None
    outside: Optional[int] = None             # samples (x batch) outside the PASS rule on their own
    per_action_dim_max_abs: tuple[float, ...] = ()   # each action dimension's worst |error| (robot units)
    atol_per_dim: tuple[float, ...] = ()      # the limit of each dimension, where there are limits per dimension
    atol_per_dim_source: Optional[str] = None  # given | the checkpoint's statistics (how many x its action std)
    failed_dims: tuple[int, ...] = ()         # the dimensions over their limit
    ran_as: Optional[str] = None              # what the runtime ran (its effective precision: "bf16 (emulated: ...)")


@dataclass(frozen=True)
class AccuracyReport:
    """`compare-precision --json`: each precision's actions against the reference on the same seeded steps."""
    subject: str
    reference: str
    samples: int
    accuracy: tuple[AccuracyResult, ...]
