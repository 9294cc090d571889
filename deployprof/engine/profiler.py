"""Per-layer times from TensorRT's IProfiler, in a pass of their own (profiling slows every layer), averaged
over runs and mapped to ONNX nodes and the policy stage."""
from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Callable, SupportsFloat

from ..results import LayerTime
from .inspect import EngineLayers

if TYPE_CHECKING:
    import tensorrt as trt


def make_profiler():
    import tensorrt as trt

    class _Profiler(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.totals: defaultdict[str, float] = defaultdict(float)

        def report_layer_time(self, layer_name: str, ms: SupportsFloat) -> None:  # 11.4 types it SupportsFloat
            self.totals[layer_name] += float(ms)

    return _Profiler()


def summarize_layers(totals: dict[str, float], runs: int, layers: EngineLayers, stage: str, top: int = 15) -> tuple[LayerTime, ...]:
    info = {l.name: l for l in layers.layers}
    overall = sum(totals.values()) or 1.0
    out = []
    for name, total in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        li = info.get(name)
        out.append(LayerTime(name=name, mean_ms=total / max(runs, 1), share=total / overall,
                             onnx_nodes=li.onnx_nodes if li else (), stage=stage, precision=li.precision if li else None))
    return tuple(out)


def profile_layers(context: "trt.IExecutionContext", enqueue: Callable[[], None], sync: Callable[[], None],
                   runs: int) -> tuple[dict[str, float], list[float]]:
    """Run after the latency pass: the profiler stays attached, but with enqueue_emits_profile off it only
    reports when asked, so later enqueues are not slowed. Returns each layer's summed ms over the runs, and each
    run's wall ms (enqueue to synchronised)."""
    prof = make_profiler()
    context.enqueue_emits_profile = False
    context.profiler = prof
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        enqueue()
        sync()
        walls.append((time.perf_counter() - t) * 1e3)
        context.report_to_profiler()
    return dict(prof.totals), walls
