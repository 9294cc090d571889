"""PyTorch eager on CPU or CUDA: the baseline users compare exported runtimes against. It rebuilds the stage
from the preset config recorded in the manifest (same seed, same weights as the export)."""
from __future__ import annotations

import importlib.util
from contextlib import nullcontext
from importlib import metadata
from typing import Callable, Optional

import numpy as np

from ..devices import process_device_memory
from ..errors import BackendUnavailableError, BuildError, ConfigError
from ..measure.layer_pass import Timed
from ..measure.torch_profile import torch_layer_times
from ..results import BuildInfo
from ..measure.timers import DeviceTimer, EventPoolTimer
from .base import BACKENDS, Availability, Backend, TorchDeviceArrays
from ..export import load_factory
from ..presets import Preset


def torch_event_timer(torch, stream) -> EventPoolTimer:
    """torch.cuda.Event pairs from a pool; torch frees an event when it is dropped, so destroy only lets go."""
    def elapsed(a, b):
        b.synchronize()
        return a.elapsed_time(b)

    return EventPoolTimer(lambda: torch.cuda.Event(enable_timing=True), lambda ev, st: ev.record(st), elapsed,
                          lambda ev: None, stream)


@BACKENDS.register("torch")
class TorchEager(TorchDeviceArrays, Backend):
    name = "torch"
    runtime = "torch"
    # It runs the PyTorch module the export was made from: in FP32, or for a bf16 export under torch.autocast to BF16
    # (MatMul/Linear/Conv in BF16, what autocast keeps FP32 in FP32; torch runs BF16 on a CPU too).
    artifact_precisions = ("fp32", "bf16")

    @classmethod
    def _availability(cls) -> Availability:
        if importlib.util.find_spec("torch") is None:
            return Availability(False, "torch is not installed (pip install 'deployprof[export]')")
        return Availability(True, f"torch {metadata.version('torch')} (CPU; CUDA with --device cuda)")

    @classmethod
    def device_blocker(cls, options) -> Optional[str]:
        if not options.torch_device.startswith("cuda"):
            return None
        import torch

        if torch.cuda.is_available():
            return None
        return (f"--device {options.torch_device} asked for, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")

    def _load(self) -> BuildInfo:
        import torch

        from ..vla import build_stages

        if not self.manifest.preset_config and not self.manifest.module_factory:
            raise ConfigError("the torch backend needs an export made by `deployprof export` (a preset or --module); "
                              "a plain .onnx file has no PyTorch module to run")
        dev = self.options.torch_device
        blocker = self.device_blocker(self.options)
        if blocker:
            raise BackendUnavailableError(f"torch: {blocker}")
        self.torch = torch
        self.device = torch.device(dev)
        if self.manifest.module_factory:
            module = load_factory(self.manifest.module_factory)()[0].eval()
        else:
            preset = Preset(self.manifest.preset or "export", self.root, self.manifest.preset_config)
            module = {s.name: s.module for s in build_stages(preset).stages}.get(self.stage.name)
        if module is None:
            raise ConfigError(f"torch: the preset has no stage {self.stage.name!r}")
        self.bf16 = self.manifest.precision == "bf16"
        # entered around every call of the module: autocast for bf16, else nothing (the timed loop stays as it was)
        self._precision = (lambda: torch.autocast(self.device.type, torch.bfloat16)) if self.bf16 else nullcontext
        self.module = module.to(self.device)
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return BuildInfo(backend=self.name, runtime="torch", runtime_version=torch.__version__, device=str(self.device),
                         precision_requested=self.manifest.precision,
                         precision_effective="bf16 (torch.autocast)" if self.bf16 else "fp32",
                         options={"mode": "eager", "inference_mode": "True",
                                  "threads": str(torch.get_num_threads())})

    def uses_gpu(self) -> bool:
        return self.options.torch_device.startswith("cuda")

    @classmethod
    def cuda_graph_blocker(cls, options) -> Optional[str]:
        if options.torch_device.startswith("cuda"):
            return None
        return f"torch on {options.torch_device} cannot capture CUDA graphs: pass --device cuda"

    def _to_device(self, feeds: dict[str, np.ndarray]) -> list:
        return [self.torch.from_numpy(np.ascontiguousarray(feeds[t.name])).to(self.device) for t in self.stage.inputs]

    def _forward(self, args):
        torch = self.torch
        with torch.inference_mode(), self._precision():
            if self.stream is None:
                return self.module(*args)
            with torch.cuda.stream(self.stream):
                return self.module(*args)

    def _array_torch(self):
        return self.torch if self.stream is not None else None

    def _array_device(self) -> str:
        return self.device

    def _array_stream(self, torch):
        return self.stream

    def device_run(self, feeds):
        self._check_open()
        with self._precision():
            out = self.module(*[feeds[t.name] for t in self.stage.inputs])
        out = out if isinstance(out, tuple) else (out,)
        return {t.name: o for t, o in zip(self.stage.outputs, out)}

    def _run(self, feeds):
        out = self._forward(self._to_device(feeds))
        out = out if isinstance(out, tuple) else (out,)
        self.synchronize()
        return {t.name: o.detach().float().cpu().numpy() if o.dtype == self.torch.bfloat16 else o.detach().cpu().numpy()
                for t, o in zip(self.stage.outputs, out)}

    def _bind(self, feeds) -> Callable[[], object]:
        args = self._to_device(feeds)
        self.synchronize()
        if self.options.cuda_graph and self.stream is not None:
            return self._capture(args)
        return lambda: self._forward(args)

    def _capture(self, args) -> Callable[[], object]:
        """One CUDA graph of the stage on fixed input tensors (warmed up on the stream first, as capture needs);
        the timed call is its replay on the same stream."""
        torch = self.torch
        try:
            for _ in range(3):
                self._forward(args)
            self.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(graph, stream=self.stream), self._precision():
                self._graph_out = self.module(*args)
        except Exception as exc:  # capture-unsafe ops (host syncs, dynamic shapes) end here
            raise BuildError(f"torch: CUDA graph capture of stage {self.stage.name} failed "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); run without --cuda-graph") from None
        self._graph = graph

        def replay():
            with torch.cuda.stream(self.stream):
                graph.replay()
        return replay

    def layer_times_unavailable(self) -> Optional[str]:
        if self.options.cuda_graph:
            return "torch with --cuda-graph on replays one captured graph: no per-module times (measure without it)"
        return None

    def layer_times(self, feeds, runs: int, budget_s: float) -> Timed:
        return torch_layer_times(self.module, self._bind(feeds), self.synchronize, runs, budget_s,
                                 cuda=self.stream is not None)

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def device_timer(self) -> Optional[DeviceTimer]:
        if self.stream is None:
            return None
        if self._timer is None:
            self._timer = torch_event_timer(self.torch, self.stream)
        return self._timer

    def device_memory(self):
        if self.stream is None:
            return None, None
        return process_device_memory(self.device.index or 0), "nvml-process"

    def allocator_peak_bytes(self) -> Optional[int]:
        return int(self.torch.cuda.max_memory_allocated(self.device)) if self.stream is not None else None

    _timer: Optional[EventPoolTimer] = None

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._graph = self._graph_out = None
        self.module = None
