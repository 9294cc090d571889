"""Device buffers, streams, events and graph capture for the engine runner, over cuda-bindings (wheels for
x86_64 and aarch64, works on Jetson) or pycuda when that is what the user has. Imported lazily, GPU only."""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from typing import Any, Optional

import numpy as np

from ..errors import BackendUnavailableError


class CudaRuntime(ABC):
    name: str

    @abstractmethod
    def malloc(self, nbytes: int) -> int: ...

    @abstractmethod
    def free(self, ptr: int) -> None: ...

    @abstractmethod
    def host_buffer(self, shape, dtype) -> np.ndarray:
        """Pinned host memory, so that async copies are really asynchronous."""

    @abstractmethod
    def stream(self) -> Any: ...

    @abstractmethod
    def handle(self, stream) -> int: ...

    @abstractmethod
    def sync(self, stream) -> None: ...

    @abstractmethod
    def htod(self, dst: int, src: np.ndarray, stream) -> None: ...

    @abstractmethod
    def dtoh(self, dst: np.ndarray, src: int, stream) -> None: ...

    @abstractmethod
    def dtod(self, dst: int, src: int, nbytes: int, stream) -> None: ...

    @abstractmethod
    def event(self) -> Any: ...

    @abstractmethod
    def record(self, event, stream) -> None: ...

    @abstractmethod
    def elapsed_ms(self, start, end) -> float: ...

    def destroy_event(self, event) -> None:
        """Release an event (cuda-bindings needs it; pycuda frees events when they are dropped)."""

    def capture(self, stream, enqueue) -> Any:
        raise BackendUnavailableError(f"CUDA graph capture needs cuda-bindings; {self.name} does not offer it")

    def launch(self, graph_exec, stream) -> None:
        raise BackendUnavailableError(f"CUDA graph launch needs cuda-bindings; {self.name} does not offer it")

    def close(self) -> None:
        pass

    @abstractmethod
    def device(self, index: int) -> tuple[str, str]:
        """(name, compute capability 'major.minor')."""

    @abstractmethod
    def versions(self) -> tuple[Optional[str], Optional[str]]:
        """(CUDA runtime, driver) as 'major.minor'."""


def _ver(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


class CudaBindings(CudaRuntime):
    name = "cuda-bindings"

    def __init__(self, device_index: int):
        from cuda.bindings import runtime as rt

        self.rt = rt
        self._ok(rt.cudaSetDevice(device_index), "cudaSetDevice")

    def _ok(self, result, what: str):
        result = result if isinstance(result, tuple) else (result,)
        err, rest = result[0], result[1:]
        if int(err) != 0:
            msg = self.rt.cudaGetErrorString(err)[1]
            raise BackendUnavailableError(f"{what} failed: {msg.decode() if isinstance(msg, bytes) else msg}")
        return rest[0] if len(rest) == 1 else rest

    def malloc(self, nbytes):
        return int(self._ok(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))

    def free(self, ptr):
        self._ok(self.rt.cudaFree(ptr), "cudaFree")

    def host_buffer(self, shape, dtype):
        dtype = np.dtype(dtype)
        n = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
        ptr = int(self._ok(self.rt.cudaMallocHost(n), "cudaMallocHost"))
        import ctypes

        raw = (ctypes.c_byte * n).from_address(ptr)
        arr = np.frombuffer(raw, dtype=np.uint8)[: int(np.prod(shape, dtype=np.int64)) * dtype.itemsize]
        self._pinned = getattr(self, "_pinned", []) + [ptr]
        return arr.view(dtype).reshape(shape)

    def stream(self):
        return self._ok(self.rt.cudaStreamCreateWithFlags(self.rt.cudaStreamNonBlocking), "cudaStreamCreate")

    def handle(self, stream):
        return int(stream)

    def sync(self, stream):
        self._ok(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def htod(self, dst, src, stream):
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._ok(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync H2D")

    def dtoh(self, dst, src, stream):
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._ok(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "cudaMemcpyAsync D2H")

    def dtod(self, dst, src, nbytes, stream):
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        self._ok(self.rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream), "cudaMemcpyAsync D2D")

    def event(self):
        return self._ok(self.rt.cudaEventCreate(), "cudaEventCreate")

    def record(self, event, stream):
        self._ok(self.rt.cudaEventRecord(event, stream), "cudaEventRecord")

    def elapsed_ms(self, start, end):
        self._ok(self.rt.cudaEventSynchronize(end), "cudaEventSynchronize")
        return float(self._ok(self.rt.cudaEventElapsedTime(start, end), "cudaEventElapsedTime"))

    def destroy_event(self, event):
        self._ok(self.rt.cudaEventDestroy(event), "cudaEventDestroy")

    def capture(self, stream, enqueue):
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._ok(self.rt.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            enqueue()
        finally:
            graph = self._ok(self.rt.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        return self._ok(self.rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")

    def launch(self, graph_exec, stream):
        self._ok(self.rt.cudaGraphLaunch(graph_exec, stream), "cudaGraphLaunch")

    def device(self, index):
        prop = self._ok(self.rt.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
        name = prop.name.decode(errors="replace").rstrip("\x00") if isinstance(prop.name, bytes) else str(prop.name)
        return name, f"{prop.major}.{prop.minor}"

    def versions(self):
        rt = self._ok(self.rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion")
        drv = self._ok(self.rt.cudaDriverGetVersion(), "cudaDriverGetVersion")
        return _ver(int(rt)), _ver(int(drv))

    def close(self):
        for ptr in getattr(self, "_pinned", []):
            self.rt.cudaFreeHost(ptr)
        self._pinned = []


class PyCuda(CudaRuntime):
    name = "pycuda"

    def __init__(self, device_index: int):
        import pycuda.driver as drv

        drv.init()
        self.drv = drv
        self.ctx = drv.Device(device_index).retain_primary_context()
        self.ctx.push()
        self._allocs: dict[int, Any] = {}

    def malloc(self, nbytes):
        alloc = self.drv.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(alloc)] = alloc
        return int(alloc)

    def free(self, ptr):
        alloc = self._allocs.pop(ptr, None)
        if alloc is not None:
            alloc.free()

    def host_buffer(self, shape, dtype):
        return self.drv.pagelocked_empty(shape, dtype)

    def stream(self):
        return self.drv.Stream()

    def handle(self, stream):
        return int(stream.handle)

    def sync(self, stream):
        stream.synchronize()

    def htod(self, dst, src, stream):
        self.drv.memcpy_htod_async(dst, src, stream)

    def dtoh(self, dst, src, stream):
        self.drv.memcpy_dtoh_async(dst, src, stream)

    def dtod(self, dst, src, nbytes, stream):
        self.drv.memcpy_dtod_async(dst, src, nbytes, stream)

    def event(self):
        return self.drv.Event()

    def record(self, event, stream):
        event.record(stream)

    def elapsed_ms(self, start, end):
        end.synchronize()
        return float(end.time_since(start))

    def device(self, index):
        dev = self.drv.Device(index)
        major, minor = dev.compute_capability()
        return dev.name(), f"{major}.{minor}"

    def versions(self):
        v = self.drv.get_version()
        return f"{v[0]}.{v[1]}", _ver(int(self.drv.get_driver_version()))

    def close(self):
        for alloc in self._allocs.values():
            alloc.free()
        self._allocs.clear()
        self.ctx.pop()


def which_bindings() -> Optional[str]:
    if importlib.util.find_spec("cuda") is not None and importlib.util.find_spec("cuda.bindings") is not None:
        return "cuda-bindings"
    if importlib.util.find_spec("pycuda") is not None:
        return "pycuda"
    return None


def open_runtime(device_index: int) -> CudaRuntime:
    kind = which_bindings()
    if kind == "cuda-bindings":
        return CudaBindings(device_index)
    if kind == "pycuda":
        return PyCuda(device_index)
    raise BackendUnavailableError("neither cuda-bindings nor pycuda is installed (pip install 'deployprof[trt]')")
