"""ONNX Runtime's session profiler (`enable_profiling`) read back as time per graph node (issue 33's ONNX Runtime
pass). Its trace has one `<node>_kernel_time` event of category Node per node and run, `dur` in microseconds, under
the names of the *optimised* graph: a node ONNX Runtime fused keeps its first original's name before a `/`
(`node_matmul/MatmulTransposeFusion//MatMulScaleFusion/`), and nodes it inserted have names of their own."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeTimes:
    mean_ms: dict[str, float]      # graph node -> mean kernel time per run (a fused group counts under its first node)
    unattributed_ms: float         # per run: kernels of nodes ONNX Runtime inserted, named after no graph node


def node_times(events: list, runs: int, graph_nodes: set[str]) -> NodeTimes:
    totals: dict[str, float] = {}
    other = 0.0
    for e in events:
        if not (isinstance(e, dict) and e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")):
            continue
        name = e["name"][:-len("_kernel_time")]
        node = name if name in graph_nodes else name.split("/")[0]
        ms = float(e.get("dur", 0)) / 1e3
        if node in graph_nodes:
            totals[node] = totals.get(node, 0.0) + ms
        else:
            other += ms
    n = max(runs, 1)
    return NodeTimes({k: v / n for k, v in totals.items()}, other / n)
