"""ONNX Runtime's session profiler (`enable_profiling`) read back as time per graph node (issue 33's ONNX Runtime
pass). Its trace has one `model_run` event per call and one `<node>_kernel_time` event of category Node per node
and call, `dur` in microseconds, under the names of the *optimised* graph: a node ONNX Runtime fused keeps its first
original's name before a `/` (`node_matmul/MatmulTransposeFusion//MatMulScaleFusion/`); nodes it rewrote or inserted
have names of their own (resolved against the graph by the join, else counted under their op type).

With sequential execution the time from one kernel's end to the next one's start is the executor getting that node
going (and, in this pass, the profiler recording it): it is kept apart as the node's `(dispatch)` unit, never added
to its kernel time, so a graph of many small nodes shows how much of its time is dispatch. What comes before the
first kernel and after the last (feeding inputs, fetching outputs) is the session's, counted under no node."""
from __future__ import annotations

import statistics

from .layer_pass import Timed, Unit

SUFFIX = "_kernel_time"
DISPATCH = "(dispatch)"


def timed_from_trace(events: list, walls_ms: list[float], skip: int, sequential: bool = True) -> Timed:
    """Node times over the calls after the first `skip` (the warm-up), mean per call."""
    runs = sorted((e["ts"], e["ts"] + e.get("dur", 0)) for e in events
                  if isinstance(e, dict) and e.get("name") == "model_run" and isinstance(e.get("ts"), (int, float)))
    kept = runs[skip:]
    per_run: list[list[tuple[float, float, str, str]]] = [[] for _ in kept]
    for e in events:
        if not (isinstance(e, dict) and e.get("cat") == "Node" and str(e.get("name", "")).endswith(SUFFIX)):
            continue
        ts, dur = e.get("ts"), e.get("dur", 0)
        if not isinstance(ts, (int, float)) or not isinstance(dur, (int, float)):
            continue
        i = next((i for i, (a, b) in enumerate(kept) if a <= ts <= b), None)
        if i is not None:
            args = e.get("args")
            op = str(args.get("op_name", "")) if isinstance(args, dict) else ""
            per_run[i].append((float(ts), float(dur), e["name"][:-len(SUFFIX)], op))
    n = max(len(kept), 1)
    kernel: dict[str, list[float]] = {}     # per node: its ms in each kept run
    dispatch: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for i, nodes in enumerate(per_run):
        previous_end = None  # before the first kernel: the session's own work (inputs, allocation), no node's
        for ts, dur, name, op in sorted(nodes):
            kernel.setdefault(name, [0.0] * n)[i] += dur / 1e3
            ops[name] = op
            if sequential and previous_end is not None:
                dispatch.setdefault(name, [0.0] * n)[i] += max(ts - previous_end, 0.0) / 1e3
            previous_end = ts + dur if previous_end is None else max(previous_end, ts + dur)
    units = [Unit(name, sum(ms) / n, onnx_nodes=(name.split("/")[0],), op_type=ops[name], per_run_ms=tuple(ms))
             for name, ms in kernel.items()]
    units += [Unit(f"{name}/{DISPATCH}", sum(ms) / n, onnx_nodes=(name.split("/")[0],), op_type=DISPATCH,
                   per_run_ms=tuple(ms)) for name, ms in dispatch.items() if sum(ms) > 0]
    return Timed("onnxruntime-profiler", len(kept), statistics.fmean(walls_ms) if walls_ms else 0.0, tuple(units))
