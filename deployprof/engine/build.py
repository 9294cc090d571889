"""Build one engine from ONNX through Polygraphy, NVIDIA's TensorRT toolkit (tested by NVIDIA on every TensorRT
release): its loaders parse, create the network (EXPLICIT_BATCH on 8.x, STRONGLY_TYPED where asked), fill the
builder config (precision flags, TF32, workspace, optimisation level, profiles, DLA with GPU fallback), keep the
timing cache and serialise. What stays ours: the choice of mode (mode.py), placeholder INT8 ranges for speed-only
builds, a DLA core other than 0, and the capture of every message for one-line errors. docs/TENSORRT.md: the split."""
from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from ..errors import BuildError, ConfigError
from .api import TrtApi
from .inspect import layer_origin
from .mode import BuildMode
from .shapes import Profile

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger(__name__)

SETTING_KEYS = ("workspace_mib", "opt_level", "dla_core", "tf32", "explicit_precision", "int8_speed_only",
                "cuda_graph", "layer_profile_runs")


@dataclass(frozen=True)
class BuildSettings:
    """Builder and runner settings, given as --provider-option KEY=VALUE for the trt backend."""
    workspace_mib: Optional[int] = None
    opt_level: Optional[int] = None         # builder optimisation level 0-5 (TensorRT default 3)
    dla_core: Optional[int] = None          # Jetson: run on this DLA core, falling back to the GPU per layer
    tf32: bool = True
    explicit_precision: bool = False
    int8_speed_only: bool = False
    cuda_graph: bool = False
    layer_profile_runs: int = 20

    @classmethod
    def from_options(cls, options: dict) -> "BuildSettings":
        unknown = sorted(set(options) - set(SETTING_KEYS))
        if unknown:
            raise ConfigError(f"unknown trt provider option(s) {', '.join(unknown)}; known: {', '.join(SETTING_KEYS)}")

        def num(key):
            if key not in options:
                return None
            try:
                return int(options[key])
            except ValueError:
                raise ConfigError(f"--provider-option {key} expects an integer, got {options[key]!r}") from None

        def flag(key, default):
            v = str(options.get(key, default)).lower()
            if v not in ("1", "0", "true", "false"):
                raise ConfigError(f"--provider-option {key} expects 1 or 0, got {options[key]!r}")
            return v in ("1", "true")

        s = cls(workspace_mib=num("workspace_mib"), opt_level=num("opt_level"), dla_core=num("dla_core"),
                tf32=flag("tf32", True), explicit_precision=flag("explicit_precision", False),
                int8_speed_only=flag("int8_speed_only", False), cuda_graph=flag("cuda_graph", False),
                layer_profile_runs=num("layer_profile_runs") if "layer_profile_runs" in options else 20)
        if s.opt_level is not None and not 0 <= s.opt_level <= 5:
            raise ConfigError(f"opt_level must be 0-5, got {s.opt_level}")
        return s

    def engine_affecting(self) -> dict[str, str]:
        """The settings that change the engine (and so belong in its cache key)."""
        return {"workspace_mib": str(self.workspace_mib), "opt_level": str(self.opt_level),
                "dla_core": str(self.dla_core), "tf32": str(self.tf32)}


@dataclass
class BuildLog:
    """TensorRT's and Polygraphy's messages, captured instead of spilled on the terminal: errors make the one-line
    messages, and -v shows every line (as deployprof's INFO log)."""
    lines: list[str] = field(default_factory=list)

    def add(self, severity: str, text: str) -> None:
        self.lines.append(f"[{severity}] {text}")
        log.info("tensorrt [%s] %s", severity, text)

    def logger(self) -> "trt.ILogger":
        """A logger for our own Runtime, which outlives the build: execute-time errors land here too."""
        import tensorrt as trt

        add = self.add

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: "trt.ILogger.Severity", msg: str) -> None:
                add(str(getattr(severity, "name", severity)), msg)

        return _Logger()

    @contextmanager
    def polygraphy(self) -> Iterator[None]:
        """Route Polygraphy's logger (and TensorRT's, which Polygraphy forwards) into these lines."""
        from polygraphy.logger import G_LOGGER

        add = self.add

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                text = re.sub(r"^\[[A-Z!]\] ", "", record.getMessage())   # Polygraphy's severity letter
                add("ERROR" if record.levelno >= logging.ERROR else record.levelname, text)

        previous = G_LOGGER.use_python_logging_system, G_LOGGER.colors
        G_LOGGER.use_python_logging_system, G_LOGGER.colors = True, False
        target, handler = logging.getLogger("Polygraphy"), _Handler()
        propagate, target.propagate = target.propagate, False
        target.addHandler(handler)
        try:
            yield
        finally:
            target.removeHandler(handler)
            target.propagate = propagate
            G_LOGGER.use_python_logging_system, G_LOGGER.colors = previous

    def errors(self) -> list[str]:
        return [l for l in self.lines if l.startswith(("[ERROR]", "[INTERNAL_ERROR]"))]


def _placeholder_ranges(network: "trt.INetworkDefinition") -> None:
    """What trtexec --int8 does without calibration: every tensor gets a made-up range. Timings only; TensorRT <= 10
    (select_mode refuses int8_speed_only where there is no INT8 flag; 11 has no dynamic ranges either)."""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            layer.get_output(j).set_dynamic_range(-4.0, 4.0)  # type: ignore[attr-defined, unused-ignore]
    for i in range(network.num_inputs):
        network.get_input(i).set_dynamic_range(-4.0, 4.0)  # type: ignore[attr-defined, unused-ignore]


def _hold_fp32(nodes: tuple[str, ...]):
    """Weakly typed mixed precision (TensorRT <= 10; 11 has no layer precision): every floating-point layer the ONNX
    parser made for a kept node (its name, or its "[ONNX Layer: name]" metadata) computes and outputs FP32; the
    config obeys it. A kept set that matches no layer is refused rather than built unconstrained."""
    wanted = set(nodes)

    def apply(network: "trt.INetworkDefinition") -> None:
        import tensorrt as trt

        held = 0
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            origin = layer_origin(layer.name, getattr(layer, "metadata", None))  # metadata: TensorRT 8.6+
            outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
            if wanted & origin and outputs and all(o.dtype in (trt.float32, trt.float16) for o in outputs):
                layer.precision = trt.float32  # type: ignore[attr-defined, unused-ignore]
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.float32)  # type: ignore[attr-defined, unused-ignore]
                held += 1
        if not held:
            raise ConfigError(f"none of the {len(wanted)} FP32-kept nodes matched a TensorRT layer (first: "
                              f"{sorted(wanted)[0]}): the mixed export does not fit this graph; rerun precision-debug")
    return apply


def _dla_core(core: int):
    """Polygraphy's use_dla always picks core 0 and only warns when there is none; we name the core and refuse."""
    def apply(builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig") -> None:
        if builder.num_DLA_cores <= core:
            raise ConfigError(f"dla_core={core}: this device has {builder.num_DLA_cores} DLA cores")
        config.DLA_core = core
    return apply


def build_engine(api: TrtApi, onnx_path: Path, mode: BuildMode, profile: Profile, settings: BuildSettings,
                 timing_cache: Optional[Path], blog: BuildLog, network_inputs: Optional[set[str]] = None
                 ) -> tuple[bytes, float]:
    """Serialized engine bytes and build seconds. The timing cache is read before and merged into after (Polygraphy
    locks the file). `network_inputs`: the ONNX graph's inputs, so that the profile names nothing else."""
    import tensorrt as trt
    from polygraphy.backend.trt import (CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxPath, PostprocessConfig,
                                        PostprocessNetwork)
    from polygraphy.backend.trt import Profile as PolyProfile
    from polygraphy.exception import PolygraphyException

    if settings.dla_core is not None and not api.dla:
        raise ConfigError(f"dla_core={settings.dla_core}: TensorRT {api.version} has no DLA device type")
    poly_profile = PolyProfile()
    for name, (lo, mid, hi) in profile.items():
        if network_inputs is None or name in network_inputs:
            poly_profile.add(name, lo, mid, hi)
    # TensorRT 11 is strongly typed without being asked (and may drop the flag).
    network = NetworkFromOnnxPath(str(onnx_path), strongly_typed=mode.strongly_typed and not api.strongly_typed_only)
    config = CreateConfig(
        tf32=settings.tf32 and api.tf32_flag, fp16="FP16" in mode.flags, int8="INT8" in mode.flags,
        profiles=[poly_profile],
        memory_pool_limits=None if settings.workspace_mib is None else {trt.MemoryPoolType.WORKSPACE: settings.workspace_mib << 20},
        builder_optimization_level=settings.opt_level,
        # Layer names and ONNX metadata for the inspector (inspect.py maps layers back to nodes).
        profiling_verbosity=trt.ProfilingVerbosity.DETAILED,
        precision_constraints="obey" if mode.fp32_nodes else None,
        load_timing_cache=str(timing_cache) if timing_cache is not None and timing_cache.exists() else None,
        use_dla=settings.dla_core is not None, allow_gpu_fallback=settings.dla_core is not None)
    if settings.dla_core is not None:
        config = PostprocessConfig(config, _dla_core(settings.dla_core))
    with blog.polygraphy():
        try:
            if mode.speed_only:
                network = PostprocessNetwork(network, _placeholder_ranges)
            elif mode.fp32_nodes:
                network = PostprocessNetwork(network, _hold_fp32(mode.fp32_nodes))
            parsed = network()
        except PolygraphyException as exc:
            errs = [l for l in blog.errors() if "parse ONNX" not in l and "Could not parse" not in l]
            raise BuildError(f"TensorRT could not parse {onnx_path.name}: {_text(errs[0]) if errs else exc}") from None
        t0 = time.perf_counter()
        try:
            serialized = EngineBytesFromNetwork(parsed, config=config,
                                                save_timing_cache=str(timing_cache) if timing_cache is not None else None)()
        except PolygraphyException as exc:
            errs = [l for l in blog.errors() if "Invalid Engine" not in l]
            raise BuildError(f"TensorRT could not build {onnx_path.name}: {_text(errs[-1]) if errs else exc} "
                             "(run with -v for the build log)") from None
        build_s = time.perf_counter() - t0
    return bytes(serialized), build_s


def _text(line: str) -> str:
    return line.split("] ", 1)[-1]
