"""How a precision reaches the engine, per TensorRT generation. Builder flags let TensorRT choose per layer
(<= 10, the way trtexec --fp16 works, built from the FP32 graph); strongly typed networks take every type from
the ONNX graph (the FP16 or Q/DQ export of the precision step): the only way on TensorRT 11.

A mixed precision (int8-mixed, fp16-mixed: precision-debug's result) strongly typed needs nothing more: the kept
nodes are FP32 in the graph (no Q/DQ around them, or casts around them). Weakly typed, the flags would let TensorRT
run them in FP16, so its layers are held in FP32 by per-layer precision constraints that the build obeys."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import ConfigError
from ..precision_names import MIXED
from .api import TrtApi


# Precisions whose every type comes from the graph: built strongly typed on any generation that has it (no builder
# flag path: TensorRT 11 has none, and a BF16/FP8/INT4 flag build would let TensorRT choose what the graph fixes).
TYPED_ONLY = {"bf16": "BF16", "fp8": "FP8 E4M3 Q/DQ", "int4": "INT4 weight-only (blocked DequantizeLinear)"}


@dataclass(frozen=True)
class BuildMode:
    precision: str                  # fp32 | fp16 | int8 | int8-mixed | fp16-mixed
    graph: str                      # "artifact": the export being profiled; "fp32-source": the FP32 export it came from
    strongly_typed: bool
    flags: tuple[str, ...]          # BuilderFlag member names
    speed_only: bool
    description: str                # also part of the engine cache key
    fp32_nodes: tuple[str, ...] = ()  # ONNX nodes whose layers the build holds in FP32 (obeyed precision constraints)


def select_mode(api: TrtApi, artifact_precision: str, *, explicit: bool = False, int8_speed_only: bool = False,
                kept_fp32: tuple[str, ...] = ()) -> BuildMode:
    """`kept_fp32`: a mixed precision's FP32-kept ONNX nodes (its manifest's kept_fp32_nodes)."""
    if artifact_precision in MIXED:
        return _mixed(select_mode(api, MIXED[artifact_precision], explicit=explicit), artifact_precision, kept_fp32)
    typed = api.strongly_typed_only or explicit
    if explicit and not api.strongly_typed_only and not api.strongly_typed_flag:
        raise ConfigError(f"explicit precision needs strongly typed networks (TensorRT 9+); TensorRT {api.version} "
                          "has none: drop explicit_precision=1 to use builder flags")
    if int8_speed_only:
        if artifact_precision != "fp32":
            raise ConfigError("int8_speed_only=1 builds from the FP32 export; use it with --precisions fp32")
        if not api.int8_flag:
            raise ConfigError(f"TensorRT {api.version} has no INT8 builder flag (strongly typed only): "
                              "use --precisions int8, which builds from the calibrated Q/DQ graph")
        return BuildMode("int8", "artifact", False, ("INT8", "FP16"), True,
                         "INT8+FP16 flags with placeholder dynamic ranges: SPEED ONLY, outputs are not meaningful")
    if artifact_precision == "fp32":
        return BuildMode("fp32", "artifact", api.strongly_typed_only, (), False,
                         "FP32 graph" + (", strongly typed" if api.strongly_typed_only else ", TF32 allowed where the GPU has it"))
    if artifact_precision == "fp16":
        if typed:
            return BuildMode("fp16", "artifact", True, (), False, "strongly typed FP16 graph (types from the ONNX)")
        return BuildMode("fp16", "fp32-source", False, ("FP16",), False,
                         "FP16 builder flag on the FP32 graph (TensorRT picks per layer)")
    if artifact_precision == "int8":
        if typed:
            return BuildMode("int8", "artifact", True, (), False, "strongly typed Q/DQ graph (calibrated scales)")
        return BuildMode("int8", "artifact", False, ("INT8", "FP16"), False,
                         "INT8+FP16 flags on the calibrated Q/DQ graph (explicit quantization)")
    if artifact_precision in TYPED_ONLY:
        if not (api.strongly_typed_only or api.strongly_typed_flag):
            raise ConfigError(f"{artifact_precision} builds strongly typed from the graph's own types (TensorRT 10+); "
                              f"TensorRT {api.version} has no strongly typed networks")
        return BuildMode(artifact_precision, "artifact", True, (), False,
                         f"strongly typed {TYPED_ONLY[artifact_precision]} graph (types from the ONNX)")
    raise ConfigError(f"the trt backend builds fp32, fp16, bf16, int8, fp8 and int4 exports, not {artifact_precision!r}")


def _mixed(base: BuildMode, precision: str, kept: tuple[str, ...]) -> BuildMode:
    if base.strongly_typed:
        return BuildMode(precision, base.graph, True, base.flags, False,
                         f"{base.description}; {len(kept)} nodes FP32 by the graph's own types")
    digest = hashlib.sha256("\n".join(sorted(kept)).encode()).hexdigest()[:12]  # the same FP32 source, another set
    return BuildMode(precision, base.graph, False, base.flags, False,
                     f"{base.description}; {len(kept)} nodes held in FP32 by obeyed precision constraints (set {digest})",
                     tuple(sorted(kept)))
