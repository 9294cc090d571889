"""Backend lifecycle (load -> run -> close, as a context manager), in the style of Polygraphy's runners:
public methods check state, `_impl` methods do the work."""
from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Optional

import numpy as np

from ..config import BackendOptions
from ..precision_names import PRECISIONS
from ..errors import BackendUnavailableError, BuildError, ConfigError
from ..manifest import Manifest, StageSpec
from ..registry import Registry
from ..measure.layer_pass import Timed
from ..measure.timers import DeviceTimer
from ..results import BuildInfo, LayerTime, TransferTimes


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str
    warning: Optional[str] = None   # usable or not, something about this install the user must hear


def cuda_torch():
    """torch, when it is installed with a usable CUDA device: its tensors are the device arrays of a device-resident
    step on runtimes without an array type of their own (ONNX Runtime's OrtValue, TensorRT's raw buffers)."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


class TorchDeviceArrays:
    """The arrays of a device-resident policy step as torch tensors on the backend's device and stream: one copy of
    these helpers for torch itself and for the runtimes without an array type of their own (ONNX Runtime on CUDA,
    TensorRT). A backend says which torch (`_array_torch`: None when its arrays stay on the host), on which device
    (`_array_device`) and stream (`_array_stream(torch)`: a torch stream, None for the default one). Put it before Backend
    in the bases: it overrides Backend's host versions."""

    def _array_torch(self):
        return None

    def _array_device(self) -> str:
        return f"cuda:{self.options.gpu_index}"

    def _array_stream(self, torch):
        return None

    def has_device_arrays(self) -> bool:
        return self._array_torch() is not None

    def to_device(self, array):
        torch = self._array_torch()
        return super().to_device(array) if torch is None else torch.from_numpy(np.ascontiguousarray(array)).to(
            self._array_device())

    def to_host(self, array) -> np.ndarray:
        return array.detach().cpu().numpy() if hasattr(array, "detach") else super().to_host(array)

    def device_context(self):
        """inference_mode, and torch's work on the backend's stream, in order with the backend's own."""
        torch = self._array_torch()
        if torch is None:
            return super().device_context()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stream = self._array_stream(torch)  # entered per resident step (timed): torch is looked up once
        if stream is not None:
            stack.enter_context(torch.cuda.stream(stream))
        return stack


_OPEN: set["Backend"] = set()   # loaded and not closed yet: a backend left here at the end is a leak (tests check)


def open_backends() -> list[str]:
    """`backend/stage` of every backend loaded and not closed in this process."""
    return sorted(f"{b.name}/{b.stage.name}" for b in _OPEN)


class Backend(ABC):
    """One stage graph on one runtime. Open it (load, or `with`) once, run it, close it: running a backend that is
    not open, or loading one twice, is an error; open_backends() lists any never closed."""
    name: ClassVar[str]
    runtime: ClassVar[str]
    provider_option_keys: ClassVar[tuple[str, ...]] = ()   # the --provider-option keys this backend understands
    supports_concurrency: ClassVar[bool] = True   # may threads share one loaded backend (--concurrency N)?
    needs_gpu: ClassVar[bool] = False   # runs on a GPU only (--device cpu is refused)
    # Precisions of the artifact (the export folder's graphs) this backend can run.
    artifact_precisions: ClassVar[tuple[str, ...]] = PRECISIONS

    def __init__(self, stage: StageSpec, root: Path, manifest: Manifest, options: BackendOptions):
        self.stage, self.root, self.manifest, self.options = stage, Path(root), manifest, options
        self.build_info: Optional[BuildInfo] = None
        self.load_ms: Optional[float] = None

    @classmethod
    def availability(cls) -> Availability:
        """Never raises: a probe that fails is reported as the reason."""
        try:
            return cls._availability()
        except Exception as exc:  # a broken install is a reason, not a crash
            return Availability(False, f"probe failed: {type(exc).__name__}: {exc}")

    @classmethod
    @abstractmethod
    def _availability(cls) -> Availability: ...

    @classmethod
    def device_blocker(cls, options) -> Optional[str]:
        """Why the device these options ask for cannot run this backend here (None: it can), checked before any
        work so that --skip-unavailable skips it instead of failing after the reference pass."""
        return None

    def load(self) -> BuildInfo:
        if self.build_info is not None:
            raise BuildError(f"{self.name}: stage {self.stage.name} is already loaded; close it before loading again")
        avail = self.availability()
        if not avail.ok:
            raise BackendUnavailableError(f"backend {self.name} is unavailable: {avail.reason}")
        if self.manifest.precision not in self.artifact_precisions:
            raise ConfigError(f"backend {self.name} runs {', '.join(self.artifact_precisions)} exports, "
                              f"not this {self.manifest.precision!r} one")
        t0 = time.perf_counter_ns()
        self.build_info = self._load()
        self.load_ms = (time.perf_counter_ns() - t0) / 1e6
        _OPEN.add(self)
        return self.build_info

    def _check_open(self) -> None:
        if self.build_info is None:
            raise BuildError(f"{self.name}: stage {self.stage.name} is not open (used before load() or after close())")

    @abstractmethod
    def _load(self) -> BuildInfo: ...

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Host arrays in, host arrays out (copies included): for correctness and policy-step glue."""
        self._check_open()
        out = self._run(feeds)
        if len(out) < len(self.stage.outputs):  # O(1) on the hot path; the names only when something is missing
            missing = [t.name for t in self.stage.outputs if t.name not in out]
            raise BuildError(f"{self.name}: stage {self.stage.name} returned no value for {missing}; the runtime "
                             "kept its outputs elsewhere (on the device?) instead of returning them")
        return out

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    # A device-resident policy step (policy.PolicyStep.resident): arrays that stay where the backend computes.
    def has_device_arrays(self) -> bool:
        """True when this backend's stages can pass outputs on without the host (a GPU backend that implements
        device_run); a CPU backend's host arrays already are its device arrays."""
        return False

    def device_run(self, feeds: dict) -> dict:
        """Device arrays in, device arrays out, no copy through the host."""
        return self.run(feeds)

    def to_device(self, array: np.ndarray):
        return array

    def to_host(self, array) -> np.ndarray:
        return np.asarray(array)

    def device_context(self):
        """Entered around a device-resident step (torch: its stream, so the loop update runs in order with it)."""
        return contextlib.nullcontext()

    @classmethod
    def accepts_option(cls, key: str) -> bool:
        return key in cls.provider_option_keys

    @classmethod
    def own_options(cls, provider_options: dict) -> dict:
        """This backend's share of --provider-option (keys for another backend of the same run left out)."""
        return {k: v for k, v in provider_options.items() if cls.accepts_option(k)}

    @classmethod
    def policy_step_blocker(cls, options: BackendOptions) -> Optional[str]:
        """Why these options cannot run a policy step (stage calls fed from the host), or None."""
        if options.cuda_graph:
            return (f"{cls.name} under --cuda-graph times each stage's graph replay; the policy step feeds its stages "
                    "from the host, so it is measured without graphs")
        return None

    @classmethod
    def cuda_graph_blocker(cls, options: BackendOptions) -> Optional[str]:
        """Why this backend cannot capture CUDA graphs with these options, or None."""
        return f"{cls.name} runs on the CPU: CUDA graphs need ort-cuda, ort-trt, torch --device cuda or trt"

    def bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        """The closure the harness times. GPU backends place inputs and outputs on the device first,
        so host<->device copies are left out of the timed region on purpose."""
        self._check_open()
        return self._bind(feeds)

    def _bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        return lambda: self._run(feeds)

    def synchronize(self) -> None:
        """Wait for device work; a no-op on the CPU."""

    def device_timer(self) -> Optional[DeviceTimer]:
        return None

    def uses_gpu(self) -> bool:
        return False

    def device_memory(self) -> tuple[Optional[int], Optional[str]]:
        """(bytes, method) of device memory this process holds now; (None, None) on the CPU."""
        return None, None

    def transfer_times(self, feeds: dict[str, np.ndarray]) -> Optional[TransferTimes]:
        """Host<->device copies in a pass of their own, where the backend keeps tensors on a device."""
        return None

    def slowest_layers(self, feeds: dict[str, np.ndarray]) -> tuple[LayerTime, ...]:
        """Slowest engine layers with their precisions (TensorRT), from a profiling pass after the latency pass."""
        return ()

    def layer_times_unavailable(self) -> Optional[str]:
        """Why this backend, as configured, has no layer-time pass (None: it has one)."""
        return f"{self.name} has no per-node profiler"

    def layer_times(self, feeds: dict[str, np.ndarray], runs: int, budget_s: float) -> Timed:
        """The layer-time pass (`--layer-profile`), after the latency pass: time per node, layer or operator."""
        raise NotImplementedError(self.name)

    def allocator_peak_bytes(self) -> Optional[int]:
        """Peak of the runtime's own allocator, where it exposes one (torch)."""
        return None

    def close(self) -> None:
        """Idempotent: closing a backend that is not open does nothing."""
        if self.build_info is None:
            return
        try:
            self._close()
        finally:
            self.build_info = None
            _OPEN.discard(self)

    def _close(self) -> None:
        pass

    def __enter__(self) -> "Backend":
        self.load()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


BACKENDS: Registry[type[Backend]] = Registry("backend")


def check_provider_options(names: list[str], provider_options: dict) -> None:
    """A --provider-option key that none of the chosen backends understands is an error, never silently dropped."""
    # Settings with an option of their own: one way to say them (a provider option once captured CUDA graphs while
    # the run recorded cuda_graph: false).
    own = {"cuda_graph": "--cuda-graph on", "enable_cuda_graph": "--cuda-graph on",
           "trt_cuda_graph_enable": "--cuda-graph on", "device_id": "--device cuda:N"}
    for key in provider_options:
        if key in own:
            raise ConfigError(f"--provider-option {key}: use {own[key]} (the run then records it)")
    classes = {n: BACKENDS.get(n) for n in names}
    unknown = [k for k in provider_options if not any(c.accepts_option(k) for c in classes.values())]
    if unknown:
        known = "; ".join(f"{n}: {', '.join(c.provider_option_keys) or 'none'}" for n, c in classes.items())
        raise ConfigError(f"--provider-option {', '.join(unknown)} is not an option of {', '.join(names)} ({known})")
