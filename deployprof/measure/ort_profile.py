"""ONNX Runtime's session profiler (`enable_profiling`) read back as time per graph node (the ONNX Runtime
pass). Its trace has one `model_run` event per call and one `<node>_kernel_time` event of category Node per node
and call, `dur` in microseconds, under the names of the *optimised* graph: a node ONNX Runtime fused keeps its first
original's name before a `/` (`node_matmul/MatmulTransposeFusion//MatMulScaleFusion/`); nodes it rewrote or inserted
have names of their own (resolved against the graph by the join, else counted under their op type).

With sequential execution the time from one kernel's end to the next one's start is the executor getting that node
going (and, in this pass, the profiler recording it): it is kept apart as the node's `(dispatch)` unit, never added
to its kernel time, so a graph of many small nodes shows how much of its time is dispatch. What comes before the
first kernel and after the last (feeding inputs, fetching outputs) is the session's, counted under no node."""
from __future__ import annotations

import json
import statistics
from array import array
from bisect import bisect_right
from pathlib import Path
from typing import Iterable, Iterator

from .layer_pass import Timed, Unit

SUFFIX = "_kernel_time"
DISPATCH = "(dispatch)"
CHUNK = 1 << 20


class TraceFile:
    """ONNX Runtime's trace file, read event by event on each pass over it: parsed whole, the events of 50 profiled
    runs of a 50,000-node graph held 2.3 GB (41 KB per node); streamed, a node costs its per-run times."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __iter__(self) -> Iterator[object]:
        decode = json.JSONDecoder().raw_decode
        with open(self.path, encoding="utf-8") as f:
            buf, pos = f.read(CHUNK), 0
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,[":
                    pos += 1
                if pos == len(buf):
                    buf, pos = f.read(CHUNK), 0
                    if not buf:
                        return
                    continue
                if buf[pos] == "]":
                    return
                try:
                    event, pos = decode(buf, pos)
                except json.JSONDecodeError:   # cut by the chunk's end: read on
                    more = f.read(CHUNK)
                    if not more:
                        raise
                    buf, pos = buf[pos:] + more, 0
                    continue
                yield event


def timed_from_trace(events: Iterable, walls_ms: list[float], skip: int, sequential: bool = True) -> Timed:
    """Node times over the calls after the first `skip` (the warm-up), mean per call. `events` is iterated twice (a
    list, or a TraceFile streamed twice): first for the calls' spans, then each node event is added to its call's
    times; only the calls still arriving are held."""
    runs = sorted((e["ts"], e["ts"] + e.get("dur", 0)) for e in events
                  if isinstance(e, dict) and e.get("name") == "model_run" and isinstance(e.get("ts"), (int, float)))
    kept = runs[skip:]
    starts = [a for a, _ in kept]
    n = max(len(kept), 1)
    kernel: dict[str, array] = {}     # per node: its ms in each kept run
    dispatch: dict[str, array] = {}
    ops: dict[str, str] = {}
    pending: dict[int, list[tuple[float, float, str]]] = {}   # a call's node events, until a later call's arrive
    last_end: dict[int, float] = {}

    def add(i: int) -> None:
        for ts, dur, name in sorted(pending.pop(i)):
            kernel.setdefault(name, array("d", bytes(8 * n)))[i] += dur / 1e3
            if sequential and i in last_end:
                dispatch.setdefault(name, array("d", bytes(8 * n)))[i] += max(ts - last_end[i], 0.0) / 1e3
            last_end[i] = max(last_end.get(i, ts + dur), ts + dur)  # before the first kernel: the session's own work

    for e in events:
        if not (isinstance(e, dict) and e.get("cat") == "Node" and str(e.get("name", "")).endswith(SUFFIX)):
            continue
        ts, dur = e.get("ts"), e.get("dur", 0)
        if not isinstance(ts, (int, float)) or not isinstance(dur, (int, float)):
            continue
        i = bisect_right(starts, ts) - 1
        if i < 0 or ts > kept[i][1]:
            continue
        name = e["name"][:-len(SUFFIX)]
        args = e.get("args")
        ops.setdefault(name, str(args.get("op_name", "")) if isinstance(args, dict) else "")
        pending.setdefault(i, []).append((float(ts), float(dur), name))
        for j in [j for j in pending if j < i]:   # a later call has started: the earlier ones are complete
            add(j)
    for j in sorted(pending):
        add(j)
    # the whole name: the join (breakdown.resolve) finds the node in it, fused (`a/MatMulScaleFusion/`) or a
    # TorchScript export's own `/`-path (`/encoder/MatMul`, which splitting on `/` once turned into "")
    units = [Unit(name, sum(ms) / n, onnx_nodes=(name,), op_type=ops[name], per_run_ms=ms)
             for name, ms in kernel.items()]
    units += [Unit(f"{name}/{DISPATCH}", sum(ms) / n, onnx_nodes=(name,), op_type=DISPATCH,
                   per_run_ms=ms) for name, ms in dispatch.items() if sum(ms) > 0]
    return Timed("onnxruntime-profiler", len(kept), statistics.fmean(walls_ms) if walls_ms else 0.0, tuple(units))
