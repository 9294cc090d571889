"""Probe the installed TensorRT's API by feature, not by version string: JetPack and desktop builds differ
(8.5 needs EXPLICIT_BATCH, 10.x deprecates precision flags, 11 removes them and is always strongly typed)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    import tensorrt as trt


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
    tf32_flag: bool                 # BuilderFlag.TF32 exists (8.6, 10.13 and 11.4 all have it)
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


def _has(obj: object, name: str) -> bool:
    return obj is not None and hasattr(obj, name)


def probe(trt: ModuleType) -> TrtApi:
    """Takes the module so that tests can hand in a stand-in of any generation."""
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
        fp16_flag=_has(flags, "FP16"), tf32_flag=_has(flags, "TF32"), int8_flag=_has(flags, "INT8"),
        strongly_typed_flag=_has(net, "STRONGLY_TYPED"),
        # 10.x keeps the enum member for compatibility but ignores it; only 8.x requires it.
        explicit_batch_flag=_has(net, "EXPLICIT_BATCH") and major < 10,
        device_memory_v2=_has(engine_cls, "device_memory_size_v2"),
        user_managed_memory=_has(getattr(trt, "ExecutionContextAllocationStrategy", None), "USER_MANAGED"),
        weights_stat=_has(getattr(trt, "EngineStat", None), "TOTAL_WEIGHTS_SIZE"),
        dla=_has(getattr(trt, "DeviceType", None), "DLA"))


# Engine calls that differ between generations, in this one place. mypy checks this file once per generation
# (tests/engine/test_types.py); a name only some generations have is marked `# type: ignore[..., unused-ignore]` on
# the line of the branch its probe guards, and nowhere else.
def weights_bytes(api: TrtApi, engine: "trt.ICudaEngine") -> Optional[int]:
    """The engine's weights (EngineStat.TOTAL_WEIGHTS_SIZE, TensorRT 10.14+); None before."""
    if not api.weights_stat:
        return None
    import tensorrt as trt

    stat = trt.EngineStat.TOTAL_WEIGHTS_SIZE  # type: ignore[attr-defined, unused-ignore]
    return int(engine.get_engine_stat(stat))  # type: ignore[attr-defined, unused-ignore]


def open_context(api: TrtApi, engine: "trt.ICudaEngine", malloc: Callable[[int], int]
                 ) -> tuple["trt.IExecutionContext", int, Optional[int]]:
    """(context, scratch bytes, scratch pointer we own or None). 10.1+: we allocate the scratch memory ourselves
    (USER_MANAGED, device_memory_size_v2) so that it is counted and freed with the backend; 8.x: TensorRT does."""
    import tensorrt as trt

    if api.user_managed_memory and api.device_memory_v2:  # 10.1+
        strategy = trt.ExecutionContextAllocationStrategy.USER_MANAGED  # type: ignore[attr-defined, unused-ignore]
        context = engine.create_execution_context(strategy)  # type: ignore[call-arg, unused-ignore]
        nbytes = int(engine.device_memory_size_v2)  # type: ignore[attr-defined, unused-ignore]
        ptr = malloc(nbytes)
        context.set_device_memory(ptr, nbytes)  # type: ignore[attr-defined, unused-ignore]
        return context, nbytes, ptr
    size = engine.device_memory_size  # type: ignore[attr-defined, unused-ignore]  # 8.x (11.4 has only _v2)
    return engine.create_execution_context(), int(size), None


def shape_of(dims: "trt.Dims") -> tuple[int, ...]:
    """A Dims as ints (indexing and len work on every generation; iteration is not part of the typed API)."""
    return tuple(int(dims[i]) for i in range(len(dims)))
