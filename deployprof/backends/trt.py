"""Native TensorRT engines: built (or taken from the engine cache) per stage for the exact GPU, run with
execute_async_v3 on a non-default stream, inputs and outputs resident on the device while timed."""
from __future__ import annotations

import importlib.util
import logging
import statistics
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..config import BackendOptions
from ..precision_names import MIXED
from ..devices import cuda_device_count, is_jetson, process_device_memory
from ..engine import cuda  # as a module: its probes are looked up at each call (tests stand in for them)
from ..engine.api import probe, shape_of, tensorrt_problem
from ..engine.build import SETTING_KEYS, BuildSettings
from ..engine.loader import load_or_build
from ..engine.mode import select_mode
from ..engine.profiler import profile_layers, summarize_layers
from ..engine.shapes import derive_profile
from ..errors import BuildError, ConfigError
from ..measure.layer_pass import Timed, Unit
from ..results import BuildInfo, EngineProvenance, LayerTime, TransferTimes
from ..measure.timers import DeviceTimer, EventPoolTimer
from .base import BACKENDS, Availability, Backend, TorchDeviceArrays, cuda_torch

log = logging.getLogger(__name__)


@BACKENDS.register("trt")
class TensorRT(TorchDeviceArrays, Backend):
    name = "trt"
    needs_gpu = True
    # cuda_graph is a BuildSettings key, set from --cuda-graph alone (a provider option once captured graphs while
    # the run recorded cuda_graph: false)
    provider_option_keys = tuple(k for k in SETTING_KEYS if k != "cuda_graph")
    runtime = "tensorrt"
    supports_concurrency = False   # an execution context must not be shared by threads

    @classmethod
    def cuda_graph_blocker(cls, options: BackendOptions) -> Optional[str]:
        return None
    # int8-dynamic's MatMulInteger is not a TensorRT op
    artifact_precisions = ("fp32", "fp16", "bf16", "int8", "fp8", "int4", *MIXED)

    @classmethod
    def _availability(cls) -> Availability:
        problem = tensorrt_problem()
        if problem:
            return Availability(False, problem)
        if cuda.which_bindings() is None:
            return Availability(False, "neither cuda-bindings nor pycuda is installed (pip install 'deployprof[trt]')")
        if importlib.util.find_spec("polygraphy") is None:
            return Availability(False, "polygraphy (NVIDIA's TensorRT build tooling) is not installed (pip install 'deployprof[trt]')")
        if cuda_device_count() == 0:
            return Availability(False, "no NVIDIA CUDA device found")
        import tensorrt as trt

        api = probe(trt)
        kind = "strongly typed only" if api.strongly_typed_only else "precision flags"
        return Availability(True, f"TensorRT {api.version} ({kind}), {cuda.which_bindings()}")

    # -- build ---------------------------------------------------------------------------------------------
    def _graph_path(self, graph: str) -> Path:
        if graph == "artifact":
            return self.root / self.stage.file
        source = self.manifest.precision_info.get("source_export")
        path = Path(source) / self.stage.file if source else None
        if path is None or not path.exists():
            raise ConfigError(f"the FP16 flag build needs the FP32 export this {self.manifest.precision} export came "
                              f"from ({path}); pass --provider-option explicit_precision=1 to build from this graph")
        return path

    def _load(self) -> BuildInfo:
        import tensorrt as trt

        o = self.options
        api = probe(trt)
        self.settings = settings = BuildSettings.from_options(
            {**o.provider_options, **({"cuda_graph": "1"} if o.cuda_graph else {})})
        mode = select_mode(api, self.manifest.precision, explicit=settings.explicit_precision,
                           int8_speed_only=settings.int8_speed_only,
                           kept_fp32=self.manifest.kept_fp32(self.stage.name))
        onnx_path = self._graph_path(mode.graph)
        profile = derive_profile(self.manifest, self.stage, o.batch, o.dims, o.shapes)
        self.cuda = cuda.open_runtime(o.gpu_index)
        self.buffers: dict[str, tuple[int, int]] = {}
        loaded = load_or_build(trt, api, onnx_path, mode, profile, settings, self.cuda, o.gpu_index, o.cache_dir,
                               self.stage.name)
        self._trt_runtime, self.engine, self.context = loaded.runtime, loaded.engine, loaded.context
        self._context_memory, self.layers, self.blog, prov = (loaded.context_memory, loaded.layers, loaded.log,
                                                              loaded.provenance)
        self.stream = self.cuda.stream()
        self.handle = self.cuda.handle(self.stream)
        self.io = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            self.io[name] = (is_input, np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))))
        return BuildInfo(
            backend=self.name, runtime=self.runtime, runtime_version=api.version,
            device=f"cuda:{o.gpu_index} ({prov.gpu_name})",
            precision_requested=self.manifest.precision,
            precision_effective=mode.precision + (" (SPEED ONLY: uncalibrated)" if mode.speed_only else ""),
            providers_requested=("tensorrt",), providers_active=("tensorrt",),
            options={"build_mode": mode.description, "cuda": self.cuda.name, "cuda_graph": str(settings.cuda_graph),
                     **settings.engine_affecting()},
            speed_only=mode.speed_only, engine=prov)

    # -- run -----------------------------------------------------------------------------------------------
    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self.buffers.get(name, (None, 0))
        if ptr is None or size < nbytes:
            if ptr is not None:
                self.cuda.free(ptr)
            ptr = self.cuda.malloc(nbytes)
            self.buffers[name] = (ptr, nbytes)
        return ptr

    def _prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Shapes set, inputs copied to the device, every tensor address bound; returns output shapes."""
        self._held = []
        for name, (is_input, dtype) in self.io.items():
            if not is_input:
                continue
            if name not in feeds:
                raise ConfigError(f"{self.stage.name}: input {name} was not given")
            arr = np.ascontiguousarray(feeds[name], dtype=dtype)
            self._held.append(arr)  # the async copy reads it after this returns
            if not self.context.set_input_shape(name, arr.shape):
                raise ConfigError(f"{self.stage.name}: input {name} shape {arr.shape} is outside the engine's profile "
                                  f"{self.engine_info.shape_profile.get(name)}")
            ptr = self._buffer(name, arr.nbytes)
            self.cuda.htod(ptr, arr, self.stream)
            self.context.set_tensor_address(name, ptr)
        outputs = {}
        for name, (is_input, dtype) in self.io.items():
            if is_input:
                continue
            shape = shape_of(self.context.get_tensor_shape(name))
            ptr = self._buffer(name, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
            self.context.set_tensor_address(name, ptr)
            outputs[name] = (shape, dtype)
        return outputs

    @property
    def engine_info(self) -> EngineProvenance:
        assert self.build_info is not None and self.build_info.engine is not None, "engine_info before load()"
        return self.build_info.engine

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.handle):
            raise BuildError(f"{self.stage.name}: execute_async_v3 failed: {(self.blog.errors() or ['no error logged'])[-1]}")

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._prepare(feeds)
        self._enqueue()
        result = {}
        for name, (shape, dtype) in outputs.items():
            host = np.empty(shape, dtype)
            self.cuda.dtoh(host, self.buffers[name][0], self.stream)
            result[name] = host
        self.cuda.sync(self.stream)
        return result

    def _bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        self._prepare(feeds)
        self.cuda.sync(self.stream)
        if not self.settings.cuda_graph:
            return self._enqueue
        self._enqueue()  # TensorRT allocates lazily on the first enqueue; that must not be captured
        self.cuda.sync(self.stream)
        try:
            graph = self.cuda.capture(self.stream, self._enqueue)
        except Exception as exc:
            raise BuildError(f"{self.stage.name}: CUDA graph capture failed ({exc}); run without --cuda-graph") from None
        cuda, stream = self.cuda, self.stream
        return lambda: cuda.launch(graph, stream)

    def synchronize(self) -> None:
        self.cuda.sync(self.stream)

    # A device-resident policy step: torch CUDA tensors between stages, bound in place as the engine's tensor
    # addresses; outputs are written straight into torch tensors; all on the engine's stream.
    def _array_torch(self):
        return cuda_torch() if self.build_info is not None else None

    def _array_stream(self, torch):
        return torch.cuda.ExternalStream(self.cuda.handle(self.stream), device=self._array_device())

    def device_run(self, feeds: dict) -> dict:
        self._check_open()
        torch, device = cuda_torch(), f"cuda:{self.options.gpu_index}"
        keep = []
        for name, (is_input, dtype) in self.io.items():
            if not is_input:
                continue
            t = feeds[name].to(getattr(torch, dtype.name)).contiguous()
            keep.append(t)
            if not self.context.set_input_shape(name, tuple(t.shape)):
                raise ConfigError(f"{self.stage.name}: input {name} shape {tuple(t.shape)} is outside the engine's "
                                  f"profile {self.engine_info.shape_profile.get(name)}")
            self.context.set_tensor_address(name, t.data_ptr())
        out = {}
        for name, (is_input, dtype) in self.io.items():
            if not is_input:
                t = torch.empty(shape_of(self.context.get_tensor_shape(name)),
                                dtype=getattr(torch, dtype.name), device=device)
                self.context.set_tensor_address(name, t.data_ptr())
                out[name] = t
        self._enqueue()
        self._resident_keep = keep  # the inputs stay alive until the next call, which the stream orders after this
        return out

    _timer: Optional[EventPoolTimer] = None

    def device_timer(self) -> Optional[DeviceTimer]:
        if self._timer is None:
            c = self.cuda
            self._timer = EventPoolTimer(c.event, c.record, c.elapsed_ms, c.destroy_event, self.stream)
        return self._timer

    def uses_gpu(self) -> bool:
        return True

    def device_memory(self):
        if is_jetson():
            return None, None  # unified memory: the runner reads MemAvailable instead
        used = process_device_memory(self.options.gpu_index)
        return used, ("nvml-process" if used is not None else None)

    def transfer_times(self, feeds: dict[str, np.ndarray], repeats: int = 20) -> Optional[TransferTimes]:
        outputs = self._prepare(feeds)
        hosts_in = []
        for name, (is_input, dtype) in self.io.items():
            if is_input:
                arr = np.asarray(feeds[name], dtype=dtype)
                pinned = self.cuda.host_buffer(arr.shape, dtype)
                pinned[...] = arr
                hosts_in.append((self.buffers[name][0], pinned))
        hosts_out = [(self.buffers[n][0], self.cuda.host_buffer(s, d)) for n, (s, d) in outputs.items()]
        self._enqueue()
        h2d, d2h = [], []
        for _ in range(repeats):
            e0, e1, e2 = self.cuda.event(), self.cuda.event(), self.cuda.event()
            self.cuda.record(e0, self.stream)
            for ptr, host in hosts_in:
                self.cuda.htod(ptr, host, self.stream)
            self.cuda.record(e1, self.stream)
            for ptr, host in hosts_out:
                self.cuda.dtoh(host, ptr, self.stream)
            self.cuda.record(e2, self.stream)
            self.cuda.sync(self.stream)
            h2d.append(self.cuda.elapsed_ms(e0, e1))
            d2h.append(self.cuda.elapsed_ms(e1, e2))
        return TransferTimes(h2d_mean_ms=float(np.mean(h2d)), d2h_mean_ms=float(np.mean(d2h)),
                             h2d_bytes=sum(h.nbytes for _, h in hosts_in), d2h_bytes=sum(h.nbytes for _, h in hosts_out),
                             repeats=repeats, pinned_host_memory=True)

    _layer_pass: Optional[tuple[dict[str, float], list[float]]] = None

    def _profiled(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, float], list[float]]:
        """One IProfiler pass serves both the engine-layer table and the layer-time breakdown."""
        if self._layer_pass is None:
            self._prepare(feeds)
            self._layer_pass = profile_layers(self.context, self._enqueue, self.synchronize,
                                              self.settings.layer_profile_runs)
        return self._layer_pass

    def slowest_layers(self, feeds: dict[str, np.ndarray]) -> tuple[LayerTime, ...]:
        totals, _ = self._profiled(feeds)
        return summarize_layers(totals, self.settings.layer_profile_runs, self.layers, self.stage.name)

    def layer_times_unavailable(self) -> Optional[str]:
        return None

    def layer_times(self, feeds: dict[str, np.ndarray], runs: int, budget_s: float) -> Timed:
        """The engine's layers (IProfiler, GPU time per layer), each with the ONNX nodes it fused (the inspector);
        the join splits a fused layer's time over its nodes by FLOPs. Its run count is the build's
        layer_profile_runs, not the CPU pass's."""
        totals, walls = self._profiled(feeds)
        info = {layer.name: layer for layer in self.layers.layers}
        n = max(len(walls), 1)
        units = tuple(Unit(name, ms / n, onnx_nodes=info[name].onnx_nodes if name in info else ())
                      for name, ms in totals.items())
        return Timed("tensorrt-iprofiler", len(walls), statistics.fmean(walls) if walls else 0.0, units)

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        runtime = getattr(self, "cuda", None)
        for name in ("context", "engine", "_trt_runtime"):   # TensorRT objects go in this order: context first
            self.__dict__.pop(name, None)
        if runtime is not None:
            for ptr, _ in getattr(self, "buffers", {}).values():
                runtime.free(ptr)
            if getattr(self, "_context_memory", None) is not None:
                runtime.free(self._context_memory)
            runtime.close()
        self.buffers = {}
        self._layer_pass = None
        self.__dict__.pop("cuda", None)
