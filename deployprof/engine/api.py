"""Probe the installed TensorRT's API by feature, not by version string: JetPack and desktop builds differ
(8.5 needs EXPLICIT_BATCH, 10.x deprecates precision flags, 11 removes them and is always strongly typed)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Optional


def tensorrt_problem() -> Optional[str]:
    """Why there is no usable TensorRT Python module here, or None. A `tensorrt` that imports but has no Builder is
    not TensorRT: the type stubs of `tensorrt-stubs` install as a bare `tensorrt` package, and so do placeholders."""
    if importlib.util.find_spec("tensorrt") is None:
        return ("tensorrt Python package not found (desktop: NVIDIA's tensorrt wheels; Jetson: JetPack's system "
                "TensorRT in a venv with --system-site-packages)")
    try:
        import tensorrt
    except Exception as exc:  # a broken install is a reason, not a crash
        return f"import tensorrt failed: {type(exc).__name__}: {exc}"
    if not hasattr(tensorrt, "Builder"):
        return ("the `tensorrt` found has no Builder: it is type stubs (tensorrt-stubs) or a placeholder, not "
                "TensorRT; install NVIDIA's tensorrt")
    return None


@dataclass(frozen=True)
class TrtApi:
    version: str
    major: int
    fp16_flag: bool                 # BuilderFlag.FP16 exists (<= 10)
    int8_flag: bool                 # BuilderFlag.INT8 exists (<= 10)
    strongly_typed_flag: bool       # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists (9+)
    explicit_batch_flag: bool       # EXPLICIT_BATCH must be passed (8.x; deprecated and ignored later)
    device_memory_v2: bool          # ICudaEngine.device_memory_size_v2 (10.1+)
    user_managed_memory: bool       # ExecutionContextAllocationStrategy.USER_MANAGED
    weights_stat: bool              # get_engine_stat(EngineStat.TOTAL_WEIGHTS_SIZE)
    dla: bool                       # DeviceType.DLA

    @property
    def strongly_typed_only(self) -> bool:
        """TensorRT 11: precision comes from the ONNX graph alone."""
        return not self.fp16_flag and not self.int8_flag


def _has(obj, name: str) -> bool:
    return obj is not None and hasattr(obj, name)


def probe(trt) -> TrtApi:
    flags = getattr(trt, "BuilderFlag", None)
    net = getattr(trt, "NetworkDefinitionCreationFlag", None)
    engine_cls = getattr(trt, "ICudaEngine", None)
    version = str(getattr(trt, "__version__", "0"))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    return TrtApi(
        version=version, major=major,
        fp16_flag=_has(flags, "FP16"), int8_flag=_has(flags, "INT8"),
        strongly_typed_flag=_has(net, "STRONGLY_TYPED"),
        # 10.x keeps the enum member for compatibility but ignores it; only 8.x requires it.
        explicit_batch_flag=_has(net, "EXPLICIT_BATCH") and major < 10,
        device_memory_v2=_has(engine_cls, "device_memory_size_v2"),
        user_managed_memory=_has(getattr(trt, "ExecutionContextAllocationStrategy", None), "USER_MANAGED"),
        weights_stat=_has(getattr(trt, "EngineStat", None), "TOTAL_WEIGHTS_SIZE"),
        dla=_has(getattr(trt, "DeviceType", None), "DLA"))
