"""Verdicts of a spec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Criterion:
    """One line of a qualification: limit, what was measured (or predicted), its CI, the margin and the verdict."""
    name: str
    limit: float
    unit: str
    value: Optional[float]
    ci: Optional[tuple[float, float]]
    margin: Optional[float]              # limit - value for ceilings, value - limit for floors (positive = inside)
    status: str                          # PASS | FAIL | INCONCLUSIVE
    detail: str = ""


@dataclass(frozen=True)
class ConfigVerdict:
    backend: str
    precision: str
    batch: int
    status: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Qualification:
    spec: str
    source: str
    basis: str                            # measured | predicted
    target: Optional[str]
    status: str
    configs: tuple[ConfigVerdict, ...]
    notes: tuple[str, ...] = ()
    measured_on: tuple[str, ...] = ()     # the devices the judged runs were measured on ("kind: name")
