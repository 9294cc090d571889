"""The results store's history and sweeps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class HistoryRow:
    """One stored run of the main stage (the policy step, else the single stage) of one stored result."""
    result_id: int
    created_utc: str
    commit: Optional[str]
    subject: Optional[str]
    device: Optional[str]
    kind: str
    stage: str
    backend: str
    precision: str
    batch: int
    cuda_graph: bool
    mode: str          # how requests came: "back-to-back", "rate 30 Hz" (--rate), "concurrency 4"
    p50_ms: float
    p50_ci_ms: Optional[tuple[float, float]]
    p99_ms: float
    p99_ci_ms: Optional[tuple[float, float]]
    throughput_per_s: Optional[float]
    accuracy_cosine_min: Optional[float]
    accuracy_verdict: Optional[str]


@dataclass(frozen=True)
class History:
    """`history --json`: stored runs matching the filters, oldest first."""
    store: str                                   # the store read, without its password
    filters: dict[str, str]
    rows: tuple[HistoryRow, ...]


@dataclass(frozen=True)
class SweepEntry:
    """One configuration of a sweep: done now, reused from the store (checkpoint), or failed (and why)."""
    key: str
    subject: str
    backend: str
    precision: str
    batch: int
    target: Optional[str]
    device: Optional[str]                        # the fleet label it ran on (--ray), or None for this machine
    status: str                                  # done | reused | failed
    error: Optional[str]
    result_id: Optional[int]
    p50_ms: Optional[float]
    p99_ms: Optional[float]
    accuracy_rel_l2: Optional[float]
    accuracy_cosine_min: Optional[float]
    verdict: Optional[str]                       # the spec's verdict (PASS | FAIL | INCONCLUSIVE), if one was given
    measured_on: Optional[str]                   # the device name the run recorded
    node: Optional[str] = None                   # the Ray node that ran it (--ray)
    verdict_reason: Optional[str] = None         # why it is not PASS: the criteria that were not


@dataclass(frozen=True)
class SweepReport:
    """`sweep`: every configuration of a matrix, with where its result lives in the store."""
    name: str
    created_utc: str
    store: str
    entries: tuple[SweepEntry, ...]
