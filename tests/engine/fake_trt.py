"""A stand-in `tensorrt` module that records the builder calls our code makes, per API generation. It checks that
we call the documented API the way each version wants; it proves nothing about real engines. What it offers for a
generation is checked against NVIDIA's own bindings of 8.6, 10.13 and 11.4 (test_real_trt.py): names, enum values,
parameter names."""
from __future__ import annotations

import contextlib
import enum
import sys
import types


def make(version: str, calls: list, *, parse_ok: bool = True, build_ok: bool = True, inputs=(("x", (-1, 4)),),
         dla_cores: int = 0):
    major, minor = (int(v) for v in version.split(".")[:2])
    m = types.ModuleType("tensorrt")
    m.__version__ = version
    # 11 removed the precision flags and EXPLICIT_BATCH (always strongly typed; STRONGLY_TYPED became member 0).
    flags = ["TF32", "GPU_FALLBACK"] + (["FP16", "INT8", "PREFER_PRECISION_CONSTRAINTS", "OBEY_PRECISION_CONSTRAINTS"]
                                        if major <= 10 else [])
    m.BuilderFlag = enum.Enum("BuilderFlag", flags)
    m.NetworkDefinitionCreationFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0} if major < 9 else
        {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1} if major < 11 else {"STRONGLY_TYPED": 0})
    m.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE"])
    m.ProfilingVerbosity = enum.Enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "DETAILED", "NONE"])
    m.DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])
    m.EngineStat = enum.Enum("EngineStat", ["TOTAL_WEIGHTS_SIZE"]) if (major, minor) >= (10, 14) else None
    if major >= 10:
        m.ExecutionContextAllocationStrategy = enum.Enum("ExecutionContextAllocationStrategy", ["STATIC", "USER_MANAGED"])
    m.ICudaEngine = type("ICudaEngine", (), {"device_memory_size_v2": 0} if major >= 10 else {"device_memory_size": 0})
    m.LayerType = enum.Enum("LayerType", ["CONVOLUTION", "MATRIX_MULTIPLY", "QUANTIZE", "DEQUANTIZE", "SHAPE"])
    m.DataType = enum.Enum("DataType", ["FLOAT", "HALF", "INT8", "INT32"])
    m.float32, m.float16 = m.DataType.FLOAT, m.DataType.HALF
    m.init_libnvinfer_plugins = lambda logger, namespace: True

    class ILogger:
        Severity = enum.Enum("Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])

        def __init__(self):
            pass

    class Logger(ILogger):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = ILogger.Severity

    class IHostMemory(bytes):
        """Bytes-like and a context manager, like the real one."""
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Tensor:
        is_shape_tensor = False

        def __init__(self, name, shape=()):
            self.name, self.shape, self.dtype = name, shape, m.DataType.FLOAT

        def set_dynamic_range(self, min, max):
            calls.append(("dynamic_range", self.name, min, max))


    class Layer:
        """Named like the ONNX parser names them: after their node (layer 1 has only the metadata of 8.6+)."""
        num_outputs = 1
        type = m.LayerType.MATRIX_MULTIPLY
        precision_is_set = False

        def __init__(self, i):
            self.out = Tensor(f"layer{i}_out")
            self.name, self.metadata = (f"/node{i}", "") if i != 1 else ("(Unnamed Layer* 1)", "[ONNX Layer: /node1]")
            if i == 2:
                self.out.dtype = m.DataType.INT32

        def get_output(self, index):
            return self.out

        def __setattr__(self, key, value):
            if key == "precision":
                calls.append(("layer_precision", self.name, value.name))
            object.__setattr__(self, key, value)

        def set_output_type(self, index, dtype):
            calls.append(("output_type", self.name, index, dtype.name))

    if major >= 11:
        del Tensor.set_dynamic_range   # 11: Q/DQ graphs only
        del Layer.set_output_type, Layer.precision_is_set  # 11: strongly typed, no per-layer precision

    class Network:
        def __init__(self, flags):
            self.flags = flags
            self.ins = [Tensor(n, s) for n, s in inputs]
            self.layers = [Layer(0), Layer(1), Layer(2)]

        num_inputs = property(lambda self: len(self.ins))
        num_layers = property(lambda self: len(self.layers))

        def get_input(self, index):
            return self.ins[index]

        def get_layer(self, index):
            return self.layers[index]

        def __getitem__(self, i):
            return self.layers[i]

        def __len__(self):
            return len(self.layers)

    class Profile:
        def set_shape(self, input, min, opt, max):
            calls.append(("set_shape", input, tuple(min), tuple(opt), tuple(max)))

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return IHostMemory(self.data + b"+t")

        def combine(self, other, ignore_mismatch):
            calls.append(("timing_cache_combine", other.data))
            return True

    class Config:
        DLA_core = -1
        default_device_type = m.DeviceType.GPU
        num_optimization_profiles = 0

        def __init__(self):
            self.cache = None
            self.flags = set()

        def set_memory_pool_limit(self, pool, pool_size):
            calls.append(("workspace", pool_size))

        def __setattr__(self, key, value):
            if key not in ("cache", "flags"):
                calls.append(("config", key, value.name if isinstance(value, enum.Enum) else value))
            object.__setattr__(self, key, value)

        def set_flag(self, flag):
            calls.append(("set_flag", flag.name))
            self.flags.add(flag)

        def clear_flag(self, flag):
            calls.append(("clear_flag", flag.name))
            self.flags.discard(flag)

        def get_flag(self, flag):
            return flag in self.flags

        def add_optimization_profile(self, profile):
            calls.append(("add_profile",))
            object.__setattr__(self, "num_optimization_profiles", self.num_optimization_profiles + 1)

        def create_timing_cache(self, serialized_timing_cache):
            calls.append(("timing_cache_in", bytes(serialized_timing_cache)))
            return TimingCache(bytes(serialized_timing_cache))

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.append(("timing_cache_set", cache.data))
            object.__setattr__(self, "cache", cache)

        def get_timing_cache(self):
            return self.cache

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            calls.append(("network_flags", flags))
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            if not build_ok:
                self.logger.log(Logger.ERROR, "no implementation for node /bad")
                return None
            calls.append(("build", tuple(sorted(f.name for f in config.flags))))
            return IHostMemory(b"ENGINE")

    class OnnxParser:
        def __init__(self, network, logger):
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, model):
            calls.append(("parse", model))
            return parse_ok

        def get_error(self, index):
            return "In node 3 (importFoo): UNSUPPORTED_NODE: No importer registered for op: Foo"

    m.ILogger, m.Logger, m.IHostMemory, m.Builder, m.OnnxParser = ILogger, Logger, IHostMemory, Builder, OnnxParser
    return m


@contextlib.contextmanager
def installed(trt):
    """`trt` as the process's `tensorrt`, for our lazy imports and Polygraphy's. Polygraphy caches the module it first
    imports and the logger class it derives from it, so both are reset on the way in and out."""
    def reset():
        for name, module in list(sys.modules.items()):
            if name.startswith("polygraphy"):
                for value in list(vars(module).values()):
                    if type(value).__name__ == "LazyModule":
                        object.__setattr__(value, "module", None)
        if "polygraphy.backend.trt.util" in sys.modules:
            sys.modules["polygraphy.backend.trt.util"].TRT_LOGGER = None

    saved = sys.modules.get("tensorrt")
    sys.modules["tensorrt"] = trt
    reset()
    try:
        yield trt
    finally:
        if saved is None:
            sys.modules.pop("tensorrt", None)
        else:
            sys.modules["tensorrt"] = saved
        reset()
