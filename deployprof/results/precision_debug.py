"""`precision-debug`: which model components break a low precision's actions, and the smallest set kept
in FP32 that brings the configuration to PASS, judged through whole policy steps like every accuracy check."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Evaluation:
    """One policy-step accuracy check of one mixed configuration (its kept set)."""
    kept: tuple[str, ...]              # components in FP32, as `stage:component`
    verdict: str                       # PASS | WARN | FAIL under the rule
    cosine_min: float
    max_abs: float
    rel_l2: float
    seconds: float                     # to prepare, judge and time it
    vs_fp32: float                     # policy-step time / FP32's: the median ratio of blocks interleaved with FP32's
    fp32_window_ms: float              # the median of those FP32 blocks (the report's fp32_step_ms is the lowest)
    vs_fp32_ci: Optional[tuple[float, float]] = None   # its 95% interval (order statistics of the block ratios)
    failed_dims: tuple[int, ...] = ()  # action dimensions over their limit (limits per dimension)


@dataclass(frozen=True)
class Sensitivity:
    """A component's share of the error: the configuration with only it at the low precision, and with only it
    kept in FP32."""
    stage: str
    component: str
    nodes: int
    only_low: Evaluation
    only_kept: Evaluation
    share: float                       # of the summed (1 - cosine_min) of every component's only_low
    node_names: tuple[str, ...] = ()   # a component of nodes no module holds (`(Mul)`): which nodes those are


@dataclass(frozen=True)
class Confirmation:
    """The selected kept set judged again on samples the search never saw (another seed, more of them): the
    selection's PASS is biased upward, since the same samples chose the set and judged it."""
    samples: int
    seed: int
    verdict: str                       # PASS | WARN | FAIL under the rule, on the worst fresh sample
    cosine_min: float
    max_abs: float
    outside: int                       # fresh samples outside the PASS rule on their own
    outside_bound: float               # 95% upper bound on the share of inputs outside it (one-sided Clopper-Pearson)
    failed_dims: tuple[int, ...] = ()  # action dimensions over their limit (limits per dimension)


@dataclass(frozen=True)
class PrecisionDebugReport:
    subject: str
    precision: str                     # int8 | fp16
    backend: str
    reference: str
    depth: int                         # module depth of the components
    rule: str                          # the verdict rule (bands or the user's limits)
    samples: int
    low: Evaluation                    # the whole configuration at the low precision
    fp32_step_ms: float                # FP32 policy step: the lowest of the evaluations' FP32 windows (best of several)
    untouched: tuple[str, ...]         # components without an op the low precision changes: not evaluated
    components: tuple[Sensitivity, ...]  # most harmful first
    search: tuple[Evaluation, ...]     # every configuration the search judged, in order
    kept: tuple[str, ...]              # the smallest PASSing set found (empty with verdict not PASS)
    passed: bool
    evaluations: int                   # policy-step accuracy checks made (the cache's included)
    wall_s: float
    kept_cost_ms: dict[str, float]     # per kept component: policy-step time with it kept minus without (judged sets)
    mixed_export: Optional[str]        # the mixed graph's folder (precision PRECISION-mixed), when one passed
    note: str = ""                     # why nothing passed, or what the budget cut
    selection_margin: float = 0.0      # share of the error budget the search leaves unused on its own samples
    confirmation: Optional[Confirmation] = None  # the kept set on fresh samples (passed needs its PASS)

    def final(self) -> Optional[Evaluation]:
        """The evaluation of the kept set that passed (the mixed precision), if one did."""
        return next((e for e in reversed(self.search) if e.kept == self.kept and e.verdict == "PASS"), None) \
            if self.passed else None

    def step_ms(self, e: Evaluation) -> float:
        """An evaluation's policy-step time: its ratio to FP32, at the FP32 time of the quietest window."""
        return e.vs_fp32 * self.fp32_step_ms
