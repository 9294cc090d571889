"""ONNX Runtime on CPU, CUDA and the TensorRT execution provider. The active providers are checked after the
session is created: ONNX Runtime drops a provider that fails to load without raising."""
from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ..devices import cuda_device_count, process_device_memory
from ..errors import BackendUnavailableError, BuildError
from ..results import BuildInfo
from .base import BACKENDS, Availability, Backend

OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def ort_version() -> str:
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


class OrtBackend(Backend):
    runtime = "onnxruntime"
    provider: ClassVar[str]
    needs_gpu: ClassVar[bool] = True
    device_kind: ClassVar[str] = "cuda"

    @classmethod
    def _availability(cls) -> Availability:
        if importlib.util.find_spec("onnxruntime") is None:
            return Availability(False, "onnxruntime is not installed (pip install 'deployprof[cpu]', or [gpu] for CUDA)")
        import onnxruntime as ort

        if cls.provider not in ort.get_available_providers():
            return Availability(False, f"{cls.provider} is not in this onnxruntime build ({ort_version()}); "
                                       "replace onnxruntime with onnxruntime-gpu (never install both)")
        if cls.needs_gpu and cuda_device_count() == 0:
            return Availability(False, "no NVIDIA CUDA device found")
        return Availability(True, f"onnxruntime {ort_version()}, {cls.provider}")

    def _provider_list(self) -> list:
        return [(self.provider, self._provider_options()), "CPUExecutionProvider"]

    def _provider_options(self) -> dict:
        return {"device_id": str(self.options.device_id), **{k: str(v) for k, v in self.options.provider_options.items()}}

    def _load(self) -> BuildInfo:
        import onnxruntime as ort

        so = ort.SessionOptions()
        o = self.options
        if o.intra_op_threads is not None:
            so.intra_op_num_threads = o.intra_op_threads
        if o.inter_op_threads is not None:
            so.inter_op_num_threads = o.inter_op_threads
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[o.graph_optimization])
        so.execution_mode = ort.ExecutionMode.ORT_PARALLEL if o.execution_mode == "parallel" else ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        providers = self._provider_list()
        path = self.root / self.stage.file
        try:
            self.session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BuildError(f"{self.name}: ONNX Runtime could not load {path.name}: {msg}") from None
        active = tuple(self.session.get_providers())
        fallback = self.provider not in active
        if fallback and not o.allow_fallback:
            self.session = None
            raise BackendUnavailableError(
                f"{self.name}: asked for {self.provider} but ONNX Runtime activated only {list(active)}; "
                "check the CUDA/cuDNN/TensorRT libraries match this onnxruntime build, or pass --allow-fallback to record it")
        self.output_names = [o.name for o in self.session.get_outputs()]
        requested = tuple(p if isinstance(p, str) else p[0] for p in providers)
        return BuildInfo(backend=self.name, runtime=self.runtime, runtime_version=ort_version(),
                         device="cpu" if fallback or not self.needs_gpu else f"cuda:{o.device_id}",
                         precision_requested=self.manifest.precision, precision_effective=self._effective_precision(),
                         providers_requested=requested, providers_active=active, fallback=fallback,
                         options={"graph_optimization": o.graph_optimization, "execution_mode": o.execution_mode,
                                  "intra_op_threads": str(o.intra_op_threads), "inter_op_threads": str(o.inter_op_threads),
                                  **{k: str(v) for k, v in self._provider_options().items()}})

    def _effective_precision(self) -> str:
        return self.manifest.precision

    def uses_gpu(self) -> bool:
        return self.needs_gpu

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        if not self.needs_gpu or self.build_info.fallback:
            run, names = self.session.run, self.output_names
            return lambda: run(names, feeds)
        import onnxruntime as ort

        io = self.session.io_binding()
        self._bound = [ort.OrtValue.ortvalue_from_numpy(v, "cuda", self.options.device_id) for v in feeds.values()]
        for name, value in zip(feeds, self._bound):
            io.bind_ortvalue_input(name, value)
        for name in self.output_names:
            io.bind_output(name, "cuda", self.options.device_id)
        self._io = io
        run = self.session.run_with_iobinding
        return lambda: run(io)

    def synchronize(self) -> None:
        io = getattr(self, "_io", None)
        if io is not None:
            io.synchronize_outputs()

    def device_memory(self):
        if not self.needs_gpu or self.build_info is None or self.build_info.fallback:
            return None, None
        used = process_device_memory(self.options.device_id)
        return used, ("nvml-process" if used is not None else None)

    def _close(self) -> None:
        self.session = None
        self._io = None
        self._bound = None


@BACKENDS.register("ort-cpu")
class OrtCpu(OrtBackend):
    name = "ort-cpu"
    provider = "CPUExecutionProvider"
    needs_gpu = False

    def _provider_list(self) -> list:
        return ["CPUExecutionProvider"]

    def _provider_options(self) -> dict:
        return {}


@BACKENDS.register("ort-cuda")
class OrtCuda(OrtBackend):
    name = "ort-cuda"
    provider = "CUDAExecutionProvider"


@BACKENDS.register("ort-trt")
class OrtTrt(OrtBackend):
    """TensorRT execution provider; engines and timing caches persist under the cache folder."""
    name = "ort-trt"
    provider = "TensorrtExecutionProvider"

    def _provider_options(self) -> dict:
        cache = Path(self.options.cache_dir or (self.root / ".deployprof-cache")) / "ort-trt"
        cache.mkdir(parents=True, exist_ok=True)
        opts = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
                # Precision comes from the graph (FP16 weights, Q/DQ nodes); the flags let TensorRT honour it.
                "trt_fp16_enable": str(self.manifest.precision in ("fp16", "fp16-naive", "int8")),
                "trt_int8_enable": str(self.manifest.precision == "int8")}
        return {**super()._provider_options(), **opts}

    def _provider_list(self) -> list:
        return [(self.provider, self._provider_options()),
                ("CUDAExecutionProvider", {"device_id": str(self.options.device_id)}), "CPUExecutionProvider"]

    def _effective_precision(self) -> str:
        # TensorRT picks kernels per layer within what the graph and flags allow.
        return f"{self.manifest.precision} (TensorRT per-layer choice)"
