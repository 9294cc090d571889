"""Native TensorRT engines. This version probes availability only; the engine runner is a separate issue,
so on a machine with TensorRT it says so plainly instead of pretending."""
from __future__ import annotations

import importlib.util

from ..devices import cuda_device_count
from ..errors import BackendUnavailableError
from ..results import BuildInfo
from .base import BACKENDS, Availability, Backend

NOT_IMPLEMENTED = "the native TensorRT engine runner is not implemented in this version; use ort-trt (TensorRT execution provider)"


@BACKENDS.register("trt")
class TensorRT(Backend):
    name = "trt"
    runtime = "tensorrt"

    @classmethod
    def _availability(cls) -> Availability:
        if importlib.util.find_spec("tensorrt") is None:
            return Availability(False, "tensorrt Python package not found (desktop: NVIDIA's tensorrt wheels; "
                                       "Jetson: JetPack's system TensorRT in a venv with --system-site-packages)")
        if importlib.util.find_spec("cuda") is None and importlib.util.find_spec("pycuda") is None:
            return Availability(False, "neither cuda-bindings nor pycuda is installed (pip install 'deployprof[trt]')")
        if cuda_device_count() == 0:
            return Availability(False, "no NVIDIA CUDA device found")
        return Availability(False, NOT_IMPLEMENTED)

    def _load(self) -> BuildInfo:
        raise BackendUnavailableError(NOT_IMPLEMENTED)

    def _run(self, feeds):
        raise BackendUnavailableError(NOT_IMPLEMENTED)
