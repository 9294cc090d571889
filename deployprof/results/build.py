"""What was built and how: an engine's provenance, a backend's build."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class EngineProvenance:
    """Exactly what a native TensorRT engine is: enough to rebuild it, and to refuse it on another GPU/version."""
    cache_key: str
    engine_path: str
    reused_from_cache: bool
    onnx_path: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    cuda_runtime_version: Optional[str]
    driver_version: Optional[str]
    precision: str
    build_mode: str                      # how precision reached the engine (flags, strongly typed, ...)
    builder_flags: tuple[str, ...]
    strongly_typed: bool
    speed_only: bool                     # INT8 without calibration data or Q/DQ: timings only, outputs meaningless
    shape_profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]  # input -> (min, opt, max)
    builder_settings: dict[str, str]
    build_s: Optional[float]
    engine_bytes: int
    layer_count: Optional[int]
    layer_precisions: dict[str, int]     # from the engine inspector: layers per output data type
    inspector_format: Optional[str]      # "bindings" (TensorRT <= 10) or "io-tensors" (11)
    device_memory_bytes: Optional[int]   # execution-context scratch memory
    weights_bytes: Optional[int]


@dataclass(frozen=True)
class BuildInfo:
    """What was asked for and what actually ran."""
    backend: str
    runtime: str
    runtime_version: str
    device: str
    precision_requested: str
    precision_effective: str
    providers_requested: tuple[str, ...] = ()
    providers_active: tuple[str, ...] = ()
    fallback: bool = False
    options: dict[str, str] = field(default_factory=dict)
    speed_only: bool = False             # timings are real, accuracy is not (uncalibrated INT8)
    engine: Optional[EngineProvenance] = None
    runtime_location: Optional[str] = None  # the file of the runtime module that was imported (which build ran)
