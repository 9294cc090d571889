"""ONNX Runtime on CPU, CUDA and the TensorRT execution provider. The active providers are checked after the
session is created: ONNX Runtime drops a provider that fails to load without raising."""
from __future__ import annotations


import dataclasses
import functools
import importlib.util
import re
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, ClassVar, Optional

import numpy as np

from ..devices import cuda_device_count, gpu_names, process_device_memory
from ..precision_names import base_precision
from ..graph.lowbit import emulate_bf16
from ..errors import BackendUnavailableError, BuildError, ModelError
from ..files import cache_root, write_json_atomic
from ..results import BuildInfo
from ..measure.timers import EventPoolTimer
from .base import BACKENDS, Availability, Backend, BackendOptions, TorchDeviceArrays, cuda_torch
from ..engine import cuda  # as a module: its probes are looked up at each call (tests stand in for them)
from ..manifest import graph_sha256
from ..measure.layer_pass import PROFILE_WARMUP, Timed, timed_calls
from ..measure.ort_profile import TraceFile, timed_from_trace

INT4_ACCURACY_LEVEL = "1"   # MatMulNBits' activations in FP32 (4 would make them int8)
# What the CPU provider runs for a precision it has no arithmetic for (no BF16 MatMul, no FP8 arithmetic): the
# accuracy is the precision's, the time is not (findings.precision_warnings says so).
CPU_EMULATED = {"bf16": "emulated: FP32 kernels, every BF16 tensor rounded to BF16",
                "fp8": "emulated: FP8 Q/DQ around FP32 kernels"}
OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


# ONNX Runtime's CUDA provider options (OrtCUDAProviderOptionsV2); ONNX Runtime checks their values itself.
ORT_TO_TORCH = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(int8)": "int8",
                "tensor(uint8)": "uint8"}


CUDA_OPTION_KEYS = ("gpu_mem_limit", "arena_extend_strategy", "cudnn_conv_algo_search",
                    "do_copy_in_default_stream", "cudnn_conv_use_max_workspace", "cudnn_conv1d_pad_to_nc1d",
                    "tunable_op_enable", "tunable_op_tuning_enable",
                    "tunable_op_max_tuning_duration_ms", "enable_skip_layer_norm_strict_mode", "prefer_nhwc",
                    "use_ep_level_unified_stream", "use_tf32", "sdpa_kernel", "fuse_conv_bias", "user_compute_stream")
# The shared library ONNX Runtime loads for each provider it lists (they live next to the module, in capi/).
PROVIDER_LIBRARIES = {"CUDAExecutionProvider": "onnxruntime_providers_cuda",
                      "TensorrtExecutionProvider": "onnxruntime_providers_tensorrt"}


def ort_runtime() -> tuple[str, str]:
    """Version and file of the onnxruntime module actually imported. Distribution metadata is not enough: with
    onnxruntime and onnxruntime-gpu both installed, each has metadata and one silently overwrote the other's files."""
    import onnxruntime as ort

    return ort.__version__, ort.__file__


@functools.lru_cache(maxsize=1)
def ort_distributions() -> tuple[str, ...]:
    """Every installed distribution that provides the `onnxruntime` module, with its version."""
    names = sorted(set(metadata.packages_distributions().get("onnxruntime", ())))
    return tuple(f"{n} {metadata.version(n)}" for n in names)


def ort_conflict() -> Optional[str]:
    dists = ort_distributions()
    if len(dists) < 2:
        return None
    version, path = ort_runtime()
    return (f"{len(dists)} distributions install the onnxruntime module ({', '.join(dists)}); the imported one is "
            f"{version} from {path}. Keep one: `pip uninstall {' '.join(d.split()[0] for d in dists)}`, then install "
            "the one you want (onnxruntime-gpu for CUDA/TensorRT)")


def missing_library(path: Path) -> Optional[str]:
    """The first shared library the loader cannot find when opening `path` (a provider's own dependencies:
    cuDNN, cuBLAS, libnvinfer...), or None when it opens or fails for another reason (symbols that ONNX Runtime
    provides when it loads the library itself are not ours to judge). Linux only: elsewhere None."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        found = re.search(r"([^\s:]+\.so[.\d]*): cannot open shared object file", str(exc))
        return found.group(1) if found else None
    return None


def provider_library_problem(provider: str) -> Optional[str]:
    """Why a provider this build lists cannot load here, naming the missing library; None when it can."""
    stem = PROVIDER_LIBRARIES.get(provider)
    if stem is None or not sys.platform.startswith("linux"):
        return None
    capi = Path(ort_runtime()[1]).parent / "capi"
    lib = capi / f"lib{stem}.so"
    if not lib.exists():
        return f"{provider} is listed, but its library {lib.name} is not in {capi}; reinstall onnxruntime-gpu"
    missing = missing_library(lib)
    if missing is None:
        return None
    need = "TensorRT 10.x (libnvinfer)" if provider == "TensorrtExecutionProvider" else "the CUDA and cuDNN libraries"
    return (f"{provider} is listed, but {lib.name} cannot load: {missing} not found; install {need} that this "
            "onnxruntime-gpu build expects, or put them on LD_LIBRARY_PATH")


class OrtBackend(TorchDeviceArrays, Backend):
    runtime = "onnxruntime"
    provider: ClassVar[str]
    needs_gpu = True
    device_kind: ClassVar[str] = "cuda"

    @classmethod
    def _availability(cls) -> Availability:
        if importlib.util.find_spec("onnxruntime") is None:
            return Availability(False, "onnxruntime is not installed (pip install 'deployprof[cpu]', or [gpu] for CUDA)")
        import onnxruntime as ort

        version, path = ort_runtime()
        warning = ort_conflict()
        if cls.provider not in ort.get_available_providers():
            return Availability(False, f"{cls.provider} is not in this onnxruntime build ({version}); "
                                       "replace onnxruntime with onnxruntime-gpu (never install both)", warning)
        problem = provider_library_problem(cls.provider)
        if problem:
            return Availability(False, problem, warning)
        if cls.needs_gpu and cuda_device_count() == 0:
            return Availability(False, "no NVIDIA CUDA device found", warning)
        return Availability(True, f"onnxruntime {version} ({Path(path).parent}), {cls.provider}", warning)

    def _provider_list(self) -> list:
        return [(self.provider, self._provider_options()), "CPUExecutionProvider"]

    graph_option: ClassVar[Optional[str]] = None   # the provider option that turns CUDA graphs on

    @classmethod
    def cuda_graph_blocker(cls, options: BackendOptions) -> Optional[str]:
        return None if cls.graph_option else super().cuda_graph_blocker(options)

    def _provider_options(self) -> dict:
        graph = {self.graph_option: "1"} if self.options.cuda_graph and self.graph_option else {}
        stream = {"user_compute_stream": str(self._cuda.handle(self._stream))} if self._stream is not None else {}
        return {"device_id": str(self.options.gpu_index), **graph, **stream,
                **{k: str(v) for k, v in self.options.provider_options.items()}}

    _cuda = _stream = _timer = None
    _device_time_note = "no device time: no stream of ours"

    def _own_stream(self) -> None:
        """A CUDA stream of ours for the provider to compute on (user_compute_stream), so that CUDA events on it
        give device time; without cuda-bindings (or pycuda) there is no device time, and the run says so."""
        if cuda.which_bindings() is None:
            self._device_time_note = "no device time: install cuda-bindings (pip install 'deployprof[trt]')"
            return
        if "user_compute_stream" in self.options.provider_options:  # the user's own stream wins; we cannot time it
            self._device_time_note = "no device time: --provider-option user_compute_stream is the user's stream"
            return
        try:
            self._cuda = cuda.open_runtime(self.options.gpu_index)
            self._stream = self._cuda.stream()
        except Exception as exc:  # a broken CUDA setup costs device time, not the run
            self._cuda = self._stream = None
            self._device_time_note = f"no device time: {type(exc).__name__}: {exc}"

    def device_timer(self):
        if self._stream is None or self.build_info is None or self.build_info.fallback:
            return None
        if self._timer is None:
            c = self._cuda
            self._timer = EventPoolTimer(c.event, c.record, c.elapsed_ms, c.destroy_event, self._stream)
        return self._timer

    def _session_options(self):
        import onnxruntime as ort

        so = ort.SessionOptions()
        o = self.options
        if o.intra_op_threads is not None:
            so.intra_op_num_threads = o.intra_op_threads
        if o.inter_op_threads is not None:
            so.inter_op_num_threads = o.inter_op_threads
        spin = "1" if o.spin else "0"
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        so.add_session_config_entry("session.inter_op.allow_spinning", spin)
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[o.graph_optimization])
        so.execution_mode = ort.ExecutionMode.ORT_PARALLEL if o.execution_mode == "parallel" else ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if base_precision(self.manifest.precision) == "int4":
            # ONNX Runtime fuses each blocked int4 DequantizeLinear + MatMul into MatMulNBits, by default at accuracy
            # level 4: activations quantized to int8 (W4A8), not the weight-only INT4 the graph is. Level 1 keeps
            # them FP32, as TensorRT's weight-only INT4 keeps them in its float type.
            so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", INT4_ACCURACY_LEVEL)
        return so

    def _load(self) -> BuildInfo:
        import onnxruntime as ort

        so = self._session_options()
        o = self.options
        if self.needs_gpu:
            self._own_stream()
        providers = self._provider_list()
        path = self.root / self.stage.file
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:  # a byte that is not UTF-8, held as a surrogate escape
            raise ModelError(f"{str(path).encode('utf-8', 'backslashreplace').decode()}: ONNX Runtime opens only file "
                             "names that are UTF-8, and this one holds a byte that is not; rename the file (or its "
                             "folder)") from None
        try:
            self.session = ort.InferenceSession(self._model_source(), sess_options=so, providers=providers)
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
        self._check_inputs(path.name)
        self.output_names = [o.name for o in self.session.get_outputs()]
        requested = tuple(p if isinstance(p, str) else p[0] for p in providers)
        version, location = ort_runtime()
        return BuildInfo(backend=self.name, runtime=self.runtime, runtime_version=version, runtime_location=location,
                         device="cpu" if fallback or not self.needs_gpu else f"cuda:{o.gpu_index}",
                         precision_requested=self.manifest.precision, precision_effective=self._effective_precision(),
                         providers_requested=requested, providers_active=active, fallback=fallback,
                         options={"graph_optimization": o.graph_optimization, "execution_mode": o.execution_mode,
                                  "thread_spinning": "on" if o.spin else "off",
                                  "intra_op_threads": str(o.intra_op_threads), "inter_op_threads": str(o.inter_op_threads),
                                  **({"matmulnbits_accuracy_level": INT4_ACCURACY_LEVEL}
                                     if base_precision(self.manifest.precision) == "int4" else {}),
                                  **{k: str(v) for k, v in self._provider_options().items()},
                                  **({"device_time": self._device_time_note} if self.needs_gpu and self._stream is None
                                     else {})})

    def _effective_precision(self) -> str:
        base = base_precision(self.manifest.precision)
        if not self.needs_gpu and base in CPU_EMULATED:
            return f"{self.manifest.precision} ({CPU_EMULATED[base]})"
        if base == "int4":
            return f"{self.manifest.precision} (weight-only: MatMulNBits kernels, activations FP32)"
        return self.manifest.precision

    _emulated: Optional[bytes] = None

    def _model_source(self) -> "str | bytes":
        """The graph ONNX Runtime loads: the stage file, or on the CPU a BF16 graph's emulation (no BF16 MatMul),
        made once for the latency session and the layer pass."""
        path = self.root / self.stage.file
        if self.needs_gpu or base_precision(self.manifest.precision) != "bf16":
            return str(path)
        if self._emulated is None:
            import onnx

            model = emulate_bf16(onnx.load(str(path)))
            if model.ByteSize() >= 2 ** 31 - 1:
                raise ModelError(f"{path.name}: the BF16 emulation of a graph over 2 GB cannot be held in memory; "
                                 "measure bf16 with --backends torch or on a GPU")
            self._emulated = model.SerializeToString()
        return self._emulated

    def layer_times_unavailable(self) -> Optional[str]:
        if self.needs_gpu:
            return (f"{self.name}: no device-accurate node times: ONNX Runtime's profiler times GPU nodes on the host "
                    "(launches, not GPU time) unless the build has CUDA kernel profiling (--enable_cuda_profiling, "
                    "not in the released wheels); profile the native trt backend or torch for GPU time per layer")
        return None

    def _check_inputs(self, file: str) -> None:
        """The manifest's inputs against the graph's, before anything is fed: a dtype, rank or fixed dimension that
        differs (a hand-edited manifest) is one error naming both, not ONNX Runtime's INVALID_ARGUMENT mid-run."""
        graph = {i.name: i for i in self.session.get_inputs()}
        for t in self.stage.inputs:
            g = graph.get(t.name)
            if g is None:
                continue   # an input the graph does not take: the manifest checks names against the graph
            dtype = g.type[len("tensor("):-1] if g.type.startswith("tensor(") else g.type
            dtype = {"float": "float32", "double": "float64"}.get(dtype, dtype)
            fixed = [d if isinstance(d, int) else None for d in g.shape]
            ours = [d if isinstance(d, int) else None for d in t.shape]
            if dtype != t.dtype or len(fixed) != len(ours) or any(a is not None and b is not None and a != b
                                                                   for a, b in zip(fixed, ours)):
                raise ModelError(f"{self.stage.name}: the manifest declares input {t.name!r} as {t.dtype} "
                                 f"{list(t.shape)}, but {file} takes {dtype} {list(g.shape)}; the manifest and the "
                                 "graph disagree (edited by hand?): export again, or correct the manifest")

    def layer_times(self, feeds: dict[str, np.ndarray], runs: int, budget_s: float) -> Timed:
        """A second session with ONNX Runtime's profiler on (the latency session stays as it was), its trace in a
        temporary folder that is removed after reading."""
        import onnxruntime as ort

        so = self._session_options()
        so.enable_profiling = True
        with tempfile.TemporaryDirectory(prefix="deployprof-ort-profile-") as tmp:
            so.profile_file_prefix = str(Path(tmp) / "trace")
            session = ort.InferenceSession(self._model_source(), sess_options=so, providers=self._provider_list())
            walls = timed_calls(lambda: session.run(self.output_names, feeds), runs, budget_s, warmup=PROFILE_WARMUP)
            timed = timed_from_trace(TraceFile(session.end_profiling()), walls, skip=PROFILE_WARMUP,
                                     sequential=self.options.execution_mode != "parallel")
        return dataclasses.replace(timed, profiler_node_ms=profiler_node_cost_ms()) if timed.units else timed

    def uses_gpu(self) -> bool:
        return self.needs_gpu

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def _bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        if not self.needs_gpu or self.build_info.fallback:
            run, names = self.session.run, self.output_names
            return lambda: run(names, feeds)
        import onnxruntime as ort

        io = self.session.io_binding()
        self._bound = [ort.OrtValue.ortvalue_from_numpy(v, "cuda", self.options.gpu_index) for v in feeds.values()]
        for name, value in zip(feeds, self._bound):
            io.bind_ortvalue_input(name, value)
        for name in self.output_names:
            io.bind_output(name, "cuda", self.options.gpu_index)
        self._io = io
        run = self.session.run_with_iobinding
        return lambda: run(io)

    def synchronize(self) -> None:
        io = getattr(self, "_io", None)
        if io is not None:
            io.synchronize_outputs()
        if self._stream is not None:
            self._cuda.sync(self._stream)

    # A device-resident policy step on ort-cuda / ort-trt: torch CUDA tensors are the arrays between stages; ONNX
    # Runtime reads them in place (IO binding by pointer) and computes on our stream, where the loop update (torch,
    # under device_context) also runs; its outputs are copied device to device into torch tensors (no host).
    def _array_torch(self):
        if not self.needs_gpu or self._stream is None or self.build_info is None or self.build_info.fallback:
            return None
        return cuda_torch()

    def _array_stream(self, torch):
        return torch.cuda.ExternalStream(self._cuda.handle(self._stream), device=self._array_device())

    def device_run(self, feeds: dict) -> dict:
        self._check_open()
        torch, dev = self._array_torch(), self.options.gpu_index
        io = self.session.io_binding()
        keep = []
        for name, t in feeds.items():
            t = t.contiguous()
            keep.append(t)
            io.bind_input(name, "cuda", dev, np.dtype(str(t.dtype).removeprefix("torch.")), tuple(t.shape), t.data_ptr())
        for name in self.output_names:
            io.bind_output(name, "cuda", dev)
        self.session.run_with_iobinding(io)
        out = {}
        for name, value in zip(self.output_names, io.get_outputs()):
            t = torch.empty(tuple(value.shape()), dtype=getattr(torch, ORT_TO_TORCH[value.data_type()]), device=f"cuda:{dev}")
            self._cuda.dtod(t.data_ptr(), value.data_ptr(), t.numel() * t.element_size(), self._stream)
            out[name] = t
        self._resident_io = (io, keep)  # alive until the copies on our stream are done (the next call is after them)
        return out

    def device_memory(self):
        if not self.needs_gpu or self.build_info is None or self.build_info.fallback:
            return None, None
        used = process_device_memory(self.options.gpu_index)
        return used, ("nvml-process" if used is not None else None)

    def _close(self) -> None:
        self.session = None
        self._io = None
        self._bound = None
        if self._timer is not None:
            self._timer.close()
        if self._cuda is not None:
            self._cuda.close()
        self._cuda = self._stream = self._timer = self._resident_io = None


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
    provider_option_keys = CUDA_OPTION_KEYS
    graph_option = "enable_cuda_graph"


@BACKENDS.register("ort-trt")
class OrtTrt(OrtBackend):
    """TensorRT execution provider; engines and timing caches persist under the cache folder."""
    name = "ort-trt"
    provider = "TensorrtExecutionProvider"
    graph_option = "trt_cuda_graph_enable"
    provider_option_keys = ("trt_*", *CUDA_OPTION_KEYS)

    @classmethod
    def accepts_option(cls, key: str) -> bool:
        return key.startswith("trt_") or key in CUDA_OPTION_KEYS

    def _cache(self) -> Path:
        return (Path(self.options.cache_dir) if self.options.cache_dir else cache_root()) / "ort-trt"

    def _load(self) -> BuildInfo:
        info = super()._load()
        self.write_provenance(info)
        return info

    def write_provenance(self, info: BuildInfo) -> Path:
        """What ONNX Runtime's TensorRT engines in the shared cache were built from: the graph (SHA-256), its
        precision, the provider options, the runtime and the GPU. The provider names its engine files itself; this
        record, one per graph and precision, says which run made them."""
        onnx = self.root / self.stage.file
        sha = graph_sha256(onnx)
        path = self._cache() / f"provenance-{sha[:16]}-{self.manifest.precision}.json"
        write_json_atomic(path, {"onnx_path": str(onnx), "onnx_sha256": sha, "precision": self.manifest.precision,
                                 "runtime": f"{info.runtime} {info.runtime_version}", "gpus": gpu_names()[0],
                                 "provider_options": {k: v for k, v in self._provider_options().items()
                                                      if k.startswith("trt_")}})
        return path

    def _provider_options(self) -> dict:
        cache = self._cache()
        cache.mkdir(parents=True, exist_ok=True)
        opts = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
                # Precision comes from the graph (FP16 weights, Q/DQ nodes); the flags let TensorRT honour it.
                "trt_fp16_enable": str(base_precision(self.manifest.precision) in ("fp16", "fp16-naive", "int8")),
                "trt_int8_enable": str(base_precision(self.manifest.precision) == "int8")}
        return {**super()._provider_options(), **opts}

    def _provider_list(self) -> list:
        return [(self.provider, self._provider_options()),
                ("CUDAExecutionProvider", {"device_id": str(self.options.gpu_index)}), "CPUExecutionProvider"]

    def _effective_precision(self) -> str:
        # TensorRT picks kernels per layer within what the graph and flags allow.
        kept = len(self.manifest.kept_fp32(self.stage.name))
        if kept:  # said, not hidden: the accuracy check of this configuration shows what it cost
            return (f"{self.manifest.precision} (TensorRT per-layer choice; its {kept} FP32-kept nodes are NOT enforced: "
                    "ONNX Runtime's TensorRT provider has no per-node precision, so the FP16 flag lets TensorRT run "
                    "them in FP16; the trt backend enforces them)")
        return f"{self.manifest.precision} (TensorRT per-layer choice)"


PROFILER_PROBE_NODES = 256


@functools.lru_cache(maxsize=1)
def profiler_node_cost_ms() -> float:
    """What ONNX Runtime's profiler adds per node run, in ms: a chain of PROFILER_PROBE_NODES Neg nodes on one float
    (next to no kernel work), timed with the profiler off and on in alternating rounds, best round of each; once per
    process. The profiler records each node after its kernel ends, so this lands in the next node's (dispatch)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Neg", [f"t{i}"], [f"t{i + 1}"]) for i in range(PROFILER_PROBE_NODES)]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info(f"t{PROFILER_PROBE_NODES}", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    feeds = {"t0": np.zeros(1, np.float32)}
    with tempfile.TemporaryDirectory(prefix="deployprof-ort-probe-") as tmp:
        sessions = []
        for profiled in (False, True):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            so.enable_profiling = profiled
            so.profile_file_prefix = str(Path(tmp) / "probe")
            sessions.append(ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"]))
        best = [float("inf"), float("inf")]
        for _ in range(3):
            for i, s in enumerate(sessions):
                s.run(None, feeds)
                walls = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    s.run(None, feeds)
                    walls.append(time.perf_counter() - t0)
                best[i] = min(best[i], sorted(walls)[len(walls) // 2])
        sessions[1].end_profiling()
    return max(best[1] - best[0], 0.0) * 1e3 / PROFILER_PROBE_NODES
