"""Build one engine from ONNX with the TensorRT Python API, following the mode chosen in mode.py. Written
against the documented 8.5 / 10.x / 11.x API; every version difference is probed (api.py)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import BuildError, ConfigError
from .api import TrtApi
from .mode import BuildMode
from .shapes import Profile

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
        unknown = sorted(set(options) - set(SETTING_KEYS) - {"device_id"})
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
    """TensorRT's log, captured instead of spilled on the terminal; warnings and errors are kept for messages."""
    lines: list[str] = field(default_factory=list)

    def logger(self, trt):
        sink = self.lines

        class _Logger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                sink.append(f"[{getattr(severity, 'name', severity)}] {msg}")

        return _Logger()

    def errors(self) -> list[str]:
        return [l for l in self.lines if l.startswith(("[ERROR]", "[INTERNAL_ERROR]"))]


def _network_flags(trt, api: TrtApi, mode: BuildMode) -> int:
    flags = 0
    if api.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if mode.strongly_typed and api.strongly_typed_flag and not api.strongly_typed_only:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _placeholder_ranges(network) -> None:
    """What trtexec --int8 does without calibration: every tensor gets a made-up range. Timings only."""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            layer.get_output(j).set_dynamic_range(-4.0, 4.0)
    for i in range(network.num_inputs):
        network.get_input(i).set_dynamic_range(-4.0, 4.0)


def build_engine(trt, api: TrtApi, onnx_path: Path, mode: BuildMode, profile: Profile, settings: BuildSettings,
                 timing_cache: Optional[Path], blog: BuildLog) -> tuple[bytes, float]:
    """Serialized engine bytes and build seconds. The timing cache file is read before and rewritten after."""
    logger = blog.logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, api, mode))
    parser = trt.OnnxParser(network, logger)
    # parse_from_file resolves external data next to the model.
    if not parser.parse_from_file(str(onnx_path)):
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BuildError(f"TensorRT could not parse {onnx_path.name}: {errs[0] if errs else 'unknown parser error'}")
    config = builder.create_builder_config()
    if settings.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mib << 20)
    if settings.opt_level is not None:
        config.builder_optimization_level = settings.opt_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer names and ONNX metadata for the inspector
    for name in mode.flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if not settings.tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if mode.speed_only:
        _placeholder_ranges(network)
    if settings.dla_core is not None:
        if not api.dla or builder.num_DLA_cores <= settings.dla_core:
            raise ConfigError(f"dla_core={settings.dla_core}: this device has {getattr(builder, 'num_DLA_cores', 0)} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = settings.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    dynamic = any(lo != hi for lo, _, hi in profile.values())
    inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    if dynamic or any(-1 in tuple(network.get_input(i).shape) for i in range(network.num_inputs)):
        opt = builder.create_optimization_profile()
        for name, (lo, mid, hi) in profile.items():
            if name in inputs:
                opt.set_shape(name, lo, mid, hi)
        config.add_optimization_profile(opt)
    cache = None
    if timing_cache is not None:
        cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
        config.set_timing_cache(cache, False)
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        errs = blog.errors()
        raise BuildError(f"TensorRT could not build {onnx_path.name}: {errs[-1] if errs else 'no error logged'} "
                         "(run with -v for the build log)")
    if cache is not None:
        from ..files import write_bytes_atomic

        write_bytes_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized), build_s
