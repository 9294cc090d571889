"""Issue 33's join: what a backend's profiling pass timed (ONNX nodes, TensorRT layers, torch operators) becomes a
Breakdown: each unit's module path (the exporter's metadata or the node-name scope), its static FLOPs and bytes,
modules at every depth of the tree and op types; then each component's roofline bound on the device that ran it."""
from __future__ import annotations

import dataclasses
from array import array
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .flops.analyze import analyze_graph
from .graph import load_graph
from .graph.scopes import module_at, module_path
from .measure.layer_pass import Timed
from .measure.stats import order_statistic_ci
from .results import OVERHEAD_FACTOR, Bound, Breakdown, Ceilings, ComponentTime, FlopReport, NodeTime, RunResult
from .targets import TargetProfile, profile_for, recent_cpu_profile


@dataclass(frozen=True)
class StaticNode:
    op_type: str
    module_path: tuple[str, ...]
    flops: int
    bytes: int
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


# Suffixes ONNX Runtime's layout transformer gives a node it rewrites, after the node's *output* name
# (`relu_nchwc`: the NCHWc Conv that now also does the Relu writing `relu`).
RENAMED_SUFFIXES = ("_nchwc",)
UPSTREAM_HOPS = 3   # how far back a renamed node's op type is looked for (Conv <- BatchNorm <- Relu, fused)


def static_nodes(path: Path, dims: dict[str, int], shapes: dict[str, tuple[int, ...]],
                 weight_inputs: Iterable[str] = ()) -> dict[str, StaticNode]:
    """Every node of a stage graph by name: op type, module path, FLOPs (total) and bytes in and out."""
    return stage_cost(path, dims, shapes, weight_inputs)[1]


def stage_cost(path: Path, dims: dict[str, int], shapes: dict[str, tuple[int, ...]],
               weight_inputs: Iterable[str] = ()) -> tuple[FlopReport, dict[str, StaticNode]]:
    """A stage graph counted once, node by node: its FLOP report (the per-node list left out, as `flops` without
    --per-node gives it) and its nodes by name, which the layer-time pass of every run joins with."""
    g = load_graph(path, dims, shapes)
    report = analyze_graph(g, per_node=True, weight_inputs=weight_inputs)
    cost = {n.name: n for n in report.nodes}
    out = {}
    for node in g.model.graph.node:
        name = node.name or node.output[0]
        c = cost.get(name)
        out[name] = StaticNode(node.op_type, module_path(name, {p.key: p.value for p in node.metadata_props}),
                               c.flops_total if c else 0, c.bytes if c else 0, tuple(node.input), tuple(node.output))
    return dataclasses.replace(report, nodes=()), out


def resolve(name: str, op_type: str, graph: dict[str, StaticNode], producers: dict[str, str]) -> Optional[str]:
    """The graph node a runtime's node stands for: by name; else, for a node renamed after the tensor it writes
    (`relu_nchwc`), the node of the runtime's op type that writes it or lies at most UPSTREAM_HOPS producers above
    it (the ops fused into it); else that tensor's producer."""
    if name in graph:
        return name
    # a node ONNX Runtime fused keeps its first original's name before the fusion's `/Suffix/` parts; a TorchScript
    # export's own names hold `/` (`/encoder/layer.0/MatMul`): the longest `/`-prefix that is a node
    cut = name
    while "/" in cut:
        cut = cut.rsplit("/", 1)[0]
        if cut in graph:
            return cut
    tensor = next((name[:-len(s)] for s in RENAMED_SUFFIXES if name.endswith(s)), name)
    first = node = producers.get(tensor)
    for _ in range(UPSTREAM_HOPS + 1):
        if node is None or not op_type or graph[node].op_type == op_type:
            break
        node = producers.get(graph[node].inputs[0]) if graph[node].inputs else None
    return node if node is not None and graph[node].op_type == op_type else first


Timed_ = tuple[NodeTime, Sequence[float]]   # a node's time and its time in each run of the pass (() if unknown)


def node_times(timed: Timed, graph: dict[str, StaticNode]) -> list[Timed_]:
    """A unit that ran several ONNX nodes (a TensorRT layer) is split over them by FLOPs (evenly where none has any);
    a node's (dispatch) loses what the profiler itself adds per node, where that was measured (it records each node
    in the gap before the next one starts)."""
    producers = {t: name for name, s in graph.items() for t in s.outputs}
    out = []
    for u in timed.units:
        known = [n for n in (resolve(n, u.op_type, graph, producers) for n in u.onnx_nodes) if n is not None]
        if not known:  # a torch operator, or a node the runtime inserted (a layout transform, a copy)
            out.append((NodeTime(u.name, u.op_type or "(unknown)", u.module_path, u.mean_ms, u.flops, u.bytes),
                        u.per_run_ms))
            continue
        if u.op_type.startswith("("):  # time a runtime spent around a node, not in it: its module's, no static cost
            cost = timed.profiler_node_ms if u.op_type == "(dispatch)" else None
            runs = array("d", (max(v - cost, 0.0) for v in u.per_run_ms)) if cost else u.per_run_ms
            mean = (sum(runs) / len(runs) if runs else max(u.mean_ms - cost, 0.0)) if cost else u.mean_ms
            out.append((NodeTime(u.name, u.op_type, graph[known[0]].module_path, mean), runs))
            continue
        total = sum(graph[n].flops for n in known)
        for n in known:
            s = graph[n]
            part = s.flops / total if total else 1 / len(known)
            out.append((NodeTime(n if len(known) == 1 else f"{u.name}:{n}", s.op_type, s.module_path,
                                 u.mean_ms * part, s.flops, s.bytes),
                        u.per_run_ms if part == 1 else array("d", (v * part for v in u.per_run_ms))))
    return sorted(out, key=lambda n: -n[0].mean_ms)


def _spread(members: list[Timed_]) -> tuple[Optional[float], Optional[tuple[float, float]]]:
    """The median over runs of the members' summed time, and its 95% order-statistic interval (None: runs unknown,
    or too few to bound it)."""
    runs = {len(r) for _, r in members}
    if len(runs) != 1 or not min(runs):
        return None, None
    per_run = np.sort(np.sum([r for _, r in members], axis=0))
    lo, hi = order_statistic_ci(len(per_run), 0.5)
    median = float(np.median(per_run))
    return median, None if hi is None else (float(per_run[lo - 1]), float(per_run[hi - 1]))


def _component(name: str, depth: int, members: list[Timed_], total_ms: float,
               flops: Optional[int], nbytes: Optional[int]) -> ComponentTime:
    ms = sum(n.mean_ms for n, _ in members)
    rate = lambda work: work / ms / 1e6 if work is not None and ms > 0 else None  # noqa: E731  (per ms -> G/s)
    median, ci = _spread(members)
    return ComponentTime(name, depth, len(members), ms, ms / total_ms if total_ms else 0.0, flops, nbytes,
                         rate(flops), rate(nbytes), median_ms=median, ci_ms=ci)


def modules(nodes: list[Timed_], graph: dict[str, StaticNode]) -> list[ComponentTime]:
    """The module tree at every depth: a module's time is every node under it; its static cost is every ONNX node
    under it (so a torch operator's module gets the FLOPs of the graph nodes exported from it). A node without a
    module path counts at depth 1 as `(OpType)`. The depth-1 entries sum to the stage's node time."""
    total = sum(n.mean_ms for n, _ in nodes)
    timed: dict[tuple[str, int], list[Timed_]] = defaultdict(list)
    for n, runs in nodes:
        for d, m in enumerate(n.module_path or (module_at((), 1, n.op_type),), 1):
            timed[(m, d)].append((n, runs))
    work: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for s in graph.values():
        for d, m in enumerate(s.module_path or (module_at((), 1, s.op_type),), 1):
            work[(m, d)][0] += s.flops
            work[(m, d)][1] += s.bytes
    out = [_component(m, d, ns, total, *(work[(m, d)] if (m, d) in work else (None, None)))
           for (m, d), ns in timed.items()]
    return sorted(out, key=lambda c: (-c.time_ms, c.depth, c.name))


def op_types(nodes: list[Timed_]) -> list[ComponentTime]:
    total = sum(n.mean_ms for n, _ in nodes)
    groups: dict[str, list[Timed_]] = defaultdict(list)
    for n, runs in nodes:
        groups[n.op_type].append((n, runs))
    out = []
    for op, ns in groups.items():
        known = all(n.flops is not None for n, _ in ns)
        out.append(_component(op, 0, ns, total, sum(n.flops or 0 for n, _ in ns) if known else None,
                              sum(n.bytes or 0 for n, _ in ns) if known else None))
    return sorted(out, key=lambda c: (-c.time_ms, c.name))


def breakdown(stage: str, timed: Timed, graph: dict[str, StaticNode], latency_stage_ms: float) -> Breakdown:
    timed_nodes = node_times(timed, graph)
    nodes = [n for n, _ in timed_nodes]
    attributed = sum(n.mean_ms for n in nodes)
    notes = () if timed.profiler_node_ms is None else (
        f"{stage}: the profiler's own cost, {timed.profiler_node_ms * 1e3:.1f} us per node (measured on a chain of "
        "trivial nodes, profiler off and on), is taken out of each node's (dispatch) time",)
    if any(u.flops is not None for u in timed.units):
        notes += (f"{stage}: torch operators' FLOPs as torch.profiler counts them (matrix products and convolutions; "
                  "0 for operators it has no formula for) and their bytes from their inputs only (it records no "
                  "output shapes): their floors, bounds and roofline shares are lower bounds",)
    return Breakdown(stage=stage, source=timed.source, runs=timed.runs, pass_stage_ms=timed.pass_stage_ms,
                     latency_stage_ms=latency_stage_ms,
                     overhead=timed.pass_stage_ms / latency_stage_ms if latency_stage_ms > 0 else 0.0,
                     attributed_ms=attributed,
                     coverage=attributed / timed.pass_stage_ms if timed.pass_stage_ms > 0 else 0.0,
                     nodes=tuple(nodes), modules=tuple(modules(timed_nodes, graph)),
                     op_types=tuple(op_types(timed_nodes)), notes=notes, profiler_node_ms=timed.profiler_node_ms)


def bound(c: ComponentTime, ceilings: Ceilings) -> ComponentTime:
    if c.flops is None or c.bytes is None or c.mean_ms <= 0:
        return c
    compute_ms = c.flops / ceilings.peak_gflop_per_s / 1e6
    memory_ms = c.bytes / ceilings.bandwidth_gb_per_s / 1e6
    floor = max(compute_ms, memory_ms)
    kind: Bound = "overhead" if c.mean_ms > OVERHEAD_FACTOR * floor else "compute" if compute_ms >= memory_ms else "memory"
    return dataclasses.replace(c, floor_ms=floor, bound=kind)


def judged(b: Breakdown, ceilings: Ceilings) -> Breakdown:
    """Each component's floor and bound on the ceilings of the device that ran the pass."""
    return dataclasses.replace(b, ceilings=ceilings, modules=tuple(bound(c, ceilings) for c in b.modules),
                               op_types=tuple(bound(c, ceilings) for c in b.op_types))


def with_ceilings(runs: list[RunResult], target: Optional[TargetProfile]) -> list[RunResult]:
    """Each breakdown judged on the roofline of the device that ran it: the --target profile when it describes that
    device, else (a CPU) this machine's measured ceilings (recent_cpu_profile), else the bundled profile naming it."""
    profiles: dict[tuple[str, str], Optional[TargetProfile]] = {}
    out = []
    for r in runs:
        b, dev = r.breakdown, r.measured_on
        if b is None or dev is None:
            out.append(r)
            continue
        key = (dev.kind, dev.name)
        if key not in profiles:
            profiles[key] = (target if target is not None and target.describes(*key) else
                             recent_cpu_profile() if dev.kind == "cpu" else profile_for(*key))
        p = profiles[key]
        precision = r.build.precision_effective
        tflops = p.peak_tflops.get(precision) if p is not None else None
        if p is None or not tflops:
            note = f"no roofline for {dev.name} at {precision}: components are not labelled compute- or memory-bound"
            out.append(dataclasses.replace(r, breakdown=dataclasses.replace(b, notes=b.notes + (note,))))
            continue
        source = p.sources.get("peak", "datasheet") if p.sources else "datasheet"
        ceilings = Ceilings(device=dev.name, precision=precision, peak_gflop_per_s=tflops * 1e3,
                            bandwidth_gb_per_s=p.memory_bandwidth_gbs, source=f"{p.name}: {source}")
        out.append(dataclasses.replace(r, breakdown=judged(b, ceilings)))
    return out
