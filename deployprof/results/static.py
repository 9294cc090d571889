"""Static cost: FLOPs per node and graph, roofline predictions."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class OpTypeCost:
    count: int
    macs: int
    flops: int
    flops_total: int


@dataclass(frozen=True)
class NodeCost:
    name: str
    op_type: str
    input_shapes: tuple[Optional[tuple[int, ...]], ...]
    output_shapes: tuple[Optional[tuple[int, ...]], ...]
    macs: int
    flops: int
    flops_total: int
    bytes: int
    arithmetic_intensity: Optional[float] = None


@dataclass(frozen=True)
class FlopReport:
    """Static cost of one graph. flops = 2 x macs (dense); flops_total adds bias and other work."""
    model: str
    macs: int
    flops: int
    bias_flops: int
    other_flops: int
    flops_total: int
    params: int
    params_by_dtype: dict[str, int]
    weight_bytes: int
    activation_bytes: int
    peak_activation_bytes: int
    io_bytes: int
    arithmetic_intensity: Optional[float]
    by_op_type: dict[str, OpTypeCost]
    unknown_ops: dict[str, int]
    unresolved_nodes: tuple[str, ...]
    lower_bound: bool
    free_nodes: int
    constant_folded_nodes: int
    bound_dims: dict[str, int]
    nodes: tuple[NodeCost, ...] = ()
    assumed_dims: dict[str, int] = field(default_factory=dict)  # unbound input dims counted at 1 (listed, never silent)


@dataclass(frozen=True)
class RooflineStage:
    """A latency floor for one call of a stage: its FLOPs at the target's peak, or its minimum memory traffic
    (weights at the precision + graph inputs and outputs) at full bandwidth, whichever is longer."""
    stage: str
    calls_per_step: int
    flops: int
    min_bytes: int
    compute_ms: float
    memory_ms: float
    lower_bound_ms: float
    bound: str                                    # compute | memory
    measured_p50_ms: Optional[float] = None
    efficiency: Optional[float] = None            # lower bound / measured: the share of the roofline reached


@dataclass(frozen=True)
class MemoryNeed:
    weights_bytes: int
    kv_cache_bytes: int
    peak_activation_bytes: int
    total_bytes: int
    device_bytes: int
    fraction_of_device: float
    unified_memory: bool


@dataclass(frozen=True)
class RooflinePrediction:
    target: str
    power_mode: Optional[str]
    precision: str
    peak_tflops: float
    memory_bandwidth_gbs: float
    batch: int
    stages: tuple[RooflineStage, ...]
    step_lower_bound_ms: float
    memory: MemoryNeed
    measured_step_p50_ms: Optional[float] = None
    step_efficiency: Optional[float] = None
    assumptions: str = ""
    measured_on: Optional[str] = None           # the device whose runs are attached (only runs made on the target)
    assumed_dims: dict[str, int] = field(default_factory=dict)  # unbound input dims counted at 1


@dataclass(frozen=True)
class FlopSummary:
    """`flops --json`: one graph as is (scope graph), or an export folder over one policy step (scope policy_step:
    each stage x its calls per step)."""
    source: str
    scope: str                                   # graph | policy_step
    calls_per_step: dict[str, int]
    macs: int
    flops: int
    bias_flops: int
    other_flops: int
    flops_total: int
    policy_step_flops_total: Optional[int]       # a growing KV cache counted call by call
    params: int                                  # a weight shared by several stages counted once
    params_per_stage: dict[str, int]
    weight_bytes: int
    by_op_type: dict[str, OpTypeCost]
    unknown_ops: dict[str, int]
    unresolved_nodes: tuple[str, ...]
    lower_bound: bool
    assumed_dims: dict[str, int]
    kv_cache_bytes: Optional[int]
    static_only: bool
    stages: dict[str, FlopReport]
    # the weights at each precision (int4: MatMul/Gemm weights at 4 bits + FP16 block scales, the rest FP16)
    weight_bytes_by_precision: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """`predict --json`: the roofline floor of an export on a target, per precision."""
    subject: str
    predictions: tuple[RooflinePrediction, ...]
