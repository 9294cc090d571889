"""A layer-time pass: what each backend's profiler timed, before the join with the graph, and the loop
that runs it. Profilers slow what they time, so this pass always runs after the latency pass, never inside it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

PROFILE_WARMUP = 2        # calls run before the profiled ones are kept (first-call allocation, lazy kernels)
MIN_RUNS = 6              # a median's 95% interval needs 6 runs to be bounded
LAYER_PASS_RUNS = 50      # a stage's pass: up to this many profiled calls (20 gave rankings that did not reproduce)
LAYER_PASS_BUDGET_S = 2.0  # ... or as many as fit in this (at least MIN_RUNS): medians per node, not a latency


@dataclass(frozen=True)
class Unit:
    """One thing a profiler timed, mean ms per run."""
    name: str
    mean_ms: float
    onnx_nodes: tuple[str, ...] = ()   # the ONNX nodes it ran (a TensorRT layer: every node it fused)
    op_type: str = ""                  # for a unit that is no ONNX node (a torch operator, a node the runtime inserted)
    module_path: tuple[str, ...] = ()  # where the profiler itself knows it (torch); else read off the graph
    per_run_ms: Sequence[float] = ()   # its time in each profiled run, where the profiler tells runs apart (an
    #                                    array('d') from ONNX Runtime's trace: 8 bytes a run, not a float object)
    flops: Optional[int] = None        # per run, where the profiler counts them itself (torch's with_flops)
    bytes: Optional[int] = None        # per run: a torch operator's inputs (the profiler records no output shapes)


@dataclass(frozen=True)
class Timed:
    source: str
    runs: int
    pass_stage_ms: float               # mean wall time of one call in the pass (node times are means too)
    units: tuple[Unit, ...]
    profiler_node_ms: Optional[float] = None  # what the profiler itself adds per node run, where it was measured


def timed_calls(call: Callable[[], object], runs: int, budget_s: float, warmup: int = PROFILE_WARMUP,
                clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """`warmup` calls, then `runs` timed ones or as many as fit in budget_s (at least MIN_RUNS): wall ms each."""
    for _ in range(warmup):
        call()
    walls: list[float] = []
    start = clock()
    while len(walls) < runs and (len(walls) < MIN_RUNS or clock() - start < budget_s):
        t = clock()
        call()
        walls.append((clock() - t) * 1e3)
    return walls
