"""Where a stage's measured time goes: a profiling pass of its own after the latency pass (profilers slow
what they time), its time per graph node and per model component beside the static cost, and the roofline bound of
each component on the device that ran it."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Literal, Optional

# compute / memory: the larger of the two roofline floors (FLOPs / peak, bytes / bandwidth); overhead: the time is
# more than OVERHEAD_FACTOR times that floor (dispatch, launches, layout work, small kernels); unknown: no static
# cost or no ceilings for the device.
Bound = Literal["compute", "memory", "overhead", "unknown"]
OVERHEAD_FACTOR = 10.0
AUTO_COVER = 0.75   # --depth auto: the deepest depth whose named modules hold 75% of a stage's node time
_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")


def sibling_key(name: str) -> Optional[str]:
    """`layers.*.up` for `layers.3.up`: modules that differ only by an index (None: no index in the name)."""
    return _INDEX.sub("*", name) if _INDEX.search(name) else None


@dataclass(frozen=True)
class NodeTime:
    """One timed unit: an ONNX node (a fused group counts under its first node), a share of a TensorRT layer
    (split over its fused nodes by FLOPs), or a torch operator."""
    name: str
    op_type: str
    module_path: tuple[str, ...]       # enclosing modules, outermost first; () where the export named none
    mean_ms: float
    flops: Optional[int] = None        # static cost of the ONNX node (None for a torch operator)
    bytes: Optional[int] = None


@dataclass(frozen=True)
class ComponentTime:
    """A module of the model (at its depth in the module tree) or an op type, summed over its nodes."""
    name: str                          # qualified module name, `(OpType)` for nodes without one, or the op type
    depth: int                         # 1: a top-level child of the stage's module; 0: an op type
    nodes: int
    mean_ms: float
    share: float                       # of the stage's summed node time
    flops: Optional[int]               # static, from the ONNX graph (a module's: every node under it)
    bytes: Optional[int]
    achieved_gflop_per_s: Optional[float]
    achieved_gb_per_s: Optional[float]
    floor_ms: Optional[float] = None   # max(FLOPs / peak, bytes / bandwidth) on the device that ran it
    bound: Bound = "unknown"
    median_ms: Optional[float] = None  # its time per run: the median over the pass's runs (where the profiler
    ci_ms: Optional[tuple[float, float]] = None  # tells runs apart), and that median's 95% interval; rows rank by it

    @property
    def time_ms(self) -> float:
        """What a ranking goes by: the median over runs where known (one slow run cannot move it), else the mean."""
        return self.mean_ms if self.median_ms is None else self.median_ms


@dataclass(frozen=True)
class Ceilings:
    """The roofline of the device that ran the pass: measured (a CPU: GEMM and copy bandwidth now) or datasheet."""
    device: str
    precision: str
    peak_gflop_per_s: float
    bandwidth_gb_per_s: float
    source: str


@dataclass(frozen=True)
class Breakdown:
    stage: str
    source: str                        # onnxruntime-profiler | torch-profiler | tensorrt-iprofiler
    runs: int
    pass_stage_ms: float               # mean stage time in this pass (profiling on)
    latency_stage_ms: float            # mean of the latency pass (profiling off)
    overhead: float                    # pass_stage_ms / latency_stage_ms: what profiling cost
    attributed_ms: float               # node times summed (per run), (dispatch) and (python) units included
    coverage: float                    # attributed_ms / pass_stage_ms: the rest is the runtime's own, outside any node
    nodes: tuple[NodeTime, ...]        # slowest first
    modules: tuple[ComponentTime, ...]  # the whole module tree, every depth, slowest first
    op_types: tuple[ComponentTime, ...]
    ceilings: Optional[Ceilings] = None
    notes: tuple[str, ...] = ()
    pass_wall_s: float = 0.0           # what the pass added to the run: profiling session, profiled calls, the join
    profiler_node_ms: Optional[float] = None  # the profiler's own cost per node (measured), taken out of (dispatch)

    def at_depth(self, depth: int) -> tuple[list[ComponentTime], float]:
        """The modules a view shows at --depth N, slowest first, and the time of nodes whose module path ends above N
        (the rows and that rest sum to the stage's node time)."""
        rows = sorted((c for c in self.modules if c.depth == depth), key=lambda c: -c.time_ms)
        return rows, max(self.attributed_ms - sum(c.mean_ms for c in rows), 0.0)

    def siblings(self) -> dict[str, list[ComponentTime]]:
        """Groups of two or more modules, at any depth, that differ only by an index and do the same FLOPs: the same
        code on the same shapes, which should take the same time."""
        groups: dict[tuple, list[ComponentTime]] = defaultdict(list)
        for c in self.modules:
            key = sibling_key(c.name) if c.depth > 0 else None
            if key:
                groups[(key, c.flops)].append(c)
        return {key: cs for (key, _), cs in groups.items() if len(cs) > 1}

    def grouped_at(self, depth: int) -> list[ComponentTime]:
        """The modules at `depth`, identical siblings merged into one row (`layers.* (6 alike)`: their times, shares
        and work summed), slowest first: what a ranking can say when identical layers cannot be told apart."""
        members = {id(c): key for key, cs in self.siblings().items() for c in cs if c.depth == depth}
        rows, merged = [], defaultdict(list)
        for c in (c for c in self.modules if c.depth == depth):
            (merged[members[id(c)]] if id(c) in members else rows).append(c)
        for key, cs in merged.items():
            bounds = {c.bound for c in cs}
            floors = [c.floor_ms for c in cs]
            total = lambda f: sum(getattr(c, f) for c in cs) if all(getattr(c, f) is not None for c in cs) else None  # noqa: E731
            rows.append(replace(cs[0], name=f"{key} ({len(cs)} alike)", nodes=sum(c.nodes for c in cs),
                                mean_ms=sum(c.mean_ms for c in cs), share=sum(c.share for c in cs),
                                flops=total("flops"), bytes=total("bytes"), median_ms=total("median_ms"), ci_ms=None,
                                floor_ms=sum(floors) if None not in floors else None,
                                bound=bounds.pop() if len(bounds) == 1 else "unknown"))
        return sorted(rows, key=lambda c: -c.time_ms)

    def auto_depth(self, cover: float = AUTO_COVER) -> int:
        """The deepest module depth whose named modules still hold `cover` of the node time (deeper views leave more
        in nodes that sit directly in a parent module): 1 when none does."""
        best = 1
        for d in sorted({c.depth for c in self.modules if c.depth > 0}):
            rows = [c for c in self.modules if c.depth == d and not c.name.startswith("(")]
            if self.attributed_ms > 0 and sum(c.mean_ms for c in rows) >= cover * self.attributed_ms:
                best = d
        return best
