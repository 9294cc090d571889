"""What `deployprof flops` reports: one graph as is, or an export folder summed over one policy step."""
from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Optional

from ..manifest import Manifest, check_bindings, load_subject
from ..precision_names import WEIGHT_PRECISIONS, weight_bytes
from ..results import FlopReport, FlopSummary, OpTypeCost
from .analyze import INDEX_DTYPES, analyze_model, flops_total
from ..graph.load import parsed_model


def stage_reports(manifest: Manifest, root: Path, batch: int = 1, dims: Optional[dict[str, int]] = None,
                  shapes: Optional[dict[str, tuple[int, ...]]] = None, per_node: bool = False,
                  strict: bool = False) -> dict[str, FlopReport]:
    """Each stage counted at the manifest's default dims (e.g. the KV length of the first decode step)."""
    all_dims = manifest.binding(batch, dims)
    out = {}
    for s in manifest.stages:
        out[s.name] = analyze_model(root / s.file, dims=all_dims, shapes=s.own_shapes(shapes), per_node=per_node, strict=strict,
                                    weight_inputs=s.weight_inputs)
    return out


def policy_step_total(manifest: Manifest, root: Path, reports: dict[str, FlopReport], batch: int = 1,
                      dims: Optional[dict[str, int]] = None) -> int:
    """FLOPs total of one policy step: each stage x its calls; a decode loop whose KV cache grows is counted
    call by call at its real cache length (start, start + 1, ...)."""
    all_dims = manifest.binding(batch, dims)
    calls = {c.stage: c for c in manifest.schedule}
    total = 0
    for s in manifest.stages:
        call = calls.get(s.name)
        grow = call.loop.growing_dim if call is not None and call.loop is not None else None
        if not grow:
            total += reports[s.name].flops_total * s.calls_per_step
            continue
        total += reports[s.name].flops_total if call.repeat else 0
        at = lambda i: flops_total(root / s.file, {**all_dims, grow: all_dims[grow] + i}, s.weight_inputs)  # noqa: E731
        total += _growing_calls(reports[s.name].flops_total, call.repeat, at)
    return total


def _growing_calls(first: int, repeat: int, at) -> int:
    """FLOPs of calls 1..repeat-1 of a stage whose cache grows by one per call (call i counted at start + i).
    A decode step's FLOPs are affine in its cache length (attention scores and values grow linearly, the rest
    is fixed): when calls 1, 2 and the last lie exactly on the line through call 0 and call 1, the sum is the line's
    (integers, no rounding); otherwise every call is counted. Saves all but three passes over the graph."""
    if repeat <= 4:
        return sum(at(i) for i in range(1, repeat))
    one, two, last = at(1), at(2), at(repeat - 1)
    step = one - first
    if two - one != step or last != first + step * (repeat - 1):
        return one + two + last + sum(at(i) for i in range(3, repeat - 1))
    n = repeat - 1  # calls 1..n: n * first + step * n (n + 1) / 2
    return n * first + step * n * (n + 1) // 2


def summarize(model: Path, dims: dict[str, int], shapes: dict[str, tuple[int, ...]], per_node: bool = False,
              strict: bool = False) -> FlopSummary:
    """`deployprof flops`: one graph as is, or an export folder over one policy step (each stage x its calls)."""
    model = Path(model)
    subject = load_subject(model)  # an export folder's manifest, or one synthesised from the file's inputs
    check_bindings(subject, {k: v for k, v in dims.items() if k != "batch"}, shapes)  # batch: the flops command's own
    if model.is_dir():
        manifest = subject.manifest
        reports = stage_reports(manifest, model, dims.get("batch", 1), dims, shapes, per_node, strict)
        calls = {s.name: s.calls_per_step for s in manifest.stages}
        step_total = policy_step_total(manifest, model, reports, dims.get("batch", 1), dims)
        params, kv = unique_params(manifest, model), kv_cache_bytes(manifest, manifest.binding(dims.get("batch", 1), dims))
        static_only = manifest.static_only
    else:
        r = analyze_model(model, dims=dims, shapes=shapes, per_node=per_node, strict=strict)
        reports, calls, step_total, params, kv, static_only = {model.name: r}, {model.name: 1}, None, r.params, None, False
    matmul = unique_params(subject.manifest, subject.root, matmul_only=True)
    by_op: dict[str, dict[str, int]] = {}
    unknown: Counter = Counter()
    for name, r in reports.items():
        for op, c in r.by_op_type.items():
            acc = by_op.setdefault(op, {"count": 0, "macs": 0, "flops": 0, "flops_total": 0})
            for key in acc:
                acc[key] += getattr(c, key) * calls[name]
        unknown.update({k: v * calls[name] for k, v in r.unknown_ops.items()})
    step = lambda attr: sum(getattr(r, attr) * calls[k] for k, r in reports.items())  # noqa: E731
    return FlopSummary(
        source=str(model), scope="policy_step" if model.is_dir() else "graph", calls_per_step=calls,
        macs=step("macs"), flops=step("flops"), bias_flops=step("bias_flops"), other_flops=step("other_flops"),
        flops_total=step("flops_total"), policy_step_flops_total=step_total, params=params,
        params_per_stage={k: r.params for k, r in reports.items()},
        weight_bytes=sum(r.weight_bytes for r in reports.values()),
        by_op_type={op: OpTypeCost(**c) for op, c in sorted(by_op.items(), key=lambda kv: -kv[1]["flops_total"])},
        unknown_ops=dict(unknown), unresolved_nodes=tuple(f"{k}: {u}" for k, r in reports.items() for u in r.unresolved_nodes),
        lower_bound=any(r.lower_bound for r in reports.values()), assumed_dims=assumed_dims(reports), kv_cache_bytes=kv,
        static_only=static_only, stages=reports,
        weight_bytes_by_precision={p: weight_bytes(p, params, matmul) for p in WEIGHT_PRECISIONS})


def assumed_dims(reports) -> dict[str, int]:
    """Unbound input dims that were counted at 1, over every graph of the summary."""
    return {k: v for r in reports.values() for k, v in sorted(r.assumed_dims.items())}


def kv_cache_bytes(manifest, dims: dict[str, int]) -> Optional[int]:
    """Bytes of the tensors the manifest marks as KV cache (each counted once), at the bound dims."""
    import numpy as np

    seen = {}
    for s in manifest.stages:
        for t in (*s.inputs, *s.outputs):
            if t.role == "kv_cache" and all(isinstance(d, int) or d in dims for d in t.shape):
                n = math.prod(d if isinstance(d, int) else dims[d] for d in t.shape)  # exact: huge dims never wrap
                seen[t.name] = n * np.dtype(t.dtype).itemsize
    return sum(seen.values()) if seen else None


_GENERATED = re.compile(r"^(val_\d+|onnx::.*|/.*|_.*|\d+)$")


def unique_params(manifest: Manifest, root: Path, matmul_only: bool = False) -> int:
    """Parameters of the whole policy, a weight that several stage graphs hold (OpenVLA's decode step reuses the
    prefill's) counted once: same module-path name, shape and dtype. Exporter-generated names never merge.
    `matmul_only`: only the 2-D weights a MatMul or Gemm multiplies by (its second input, directly or through a
    Transpose): what int4 weight-only quantization makes 4-bit."""
    seen: dict[tuple, int] = {}
    for i, s in enumerate(manifest.stages):
        graph = parsed_model(root / s.file).graph   # the parse the counter made (or will reuse)
        tensors = [(t.name, tuple(t.dims), t.data_type) for t in graph.initializer]
        tensors += [(v.name, tuple(d.dim_value for d in v.type.tensor_type.shape.dim), v.type.tensor_type.elem_type)
                    for v in graph.input if v.name in s.weight_inputs]
        if matmul_only:   # a weight may reach its MatMul through a Transpose (a Linear's, in shapes-only exports)
            moved = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Transpose" and n.input}
            multiplied = {moved.get(n.input[1], n.input[1]) for n in graph.node
                          if n.op_type in ("MatMul", "Gemm") and len(n.input) > 1}
            tensors = [t for t in tensors if t[0] in multiplied and len(t[1]) == 2]
        for name, dims, dtype in tensors:
            if dtype not in INDEX_DTYPES:
                seen[(i if _GENERATED.match(name) else -1, name, dims, dtype)] = math.prod(dims)
    return sum(seen.values())
