"""ONNX Runtime's session profiler (`enable_profiling`) read back as time per graph node (issue 33's ONNX Runtime
pass). Its trace has one `model_run` event per call and one `<node>_kernel_time` event of category Node per node
and call, `dur` in microseconds, under the names of the *optimised* graph: a node ONNX Runtime fused keeps its first
original's name before a `/` (`node_matmul/MatmulTransposeFusion//MatMulScaleFusion/`); nodes it inserted have names
of their own (counted under their op type)."""
from __future__ import annotations

import statistics

from .layer_pass import Timed, Unit

SUFFIX = "_kernel_time"


def timed_from_trace(events: list, walls_ms: list[float], skip: int) -> Timed:
    """Node times over the calls after the first `skip` (the warm-up), mean per call."""
    runs = sorted((e["ts"], e["ts"] + e.get("dur", 0)) for e in events
                  if isinstance(e, dict) and e.get("name") == "model_run" and isinstance(e.get("ts"), (int, float)))
    kept = runs[skip:]
    totals: dict[str, float] = {}
    ops: dict[str, str] = {}
    for e in events:
        if not (isinstance(e, dict) and e.get("cat") == "Node" and str(e.get("name", "")).endswith(SUFFIX)):
            continue
        ts = e.get("ts")
        if not isinstance(ts, (int, float)) or not any(a <= ts <= b for a, b in kept):
            continue
        name = e["name"][:-len(SUFFIX)]
        totals[name] = totals.get(name, 0.0) + float(e.get("dur", 0)) / 1e3
        args = e.get("args")
        ops[name] = str(args.get("op_name", "")) if isinstance(args, dict) else ""
    n = max(len(kept), 1)
    units = tuple(Unit(name, ms / n, onnx_nodes=(name.split("/")[0],), op_type=ops[name]) for name, ms in totals.items())
    return Timed("onnxruntime-profiler", len(kept), statistics.fmean(walls_ms) if walls_ms else 0.0, units)
