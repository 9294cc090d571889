"""Run by test_real_trt.py in a process whose `tensorrt` is NVIDIA's module of one generation (real_trt.run): our
build path (build_engine: Polygraphy's loaders and our own steps) with every TensorRT *name* from the real module and
only the objects that would need libnvinfer (Builder, OnnxParser and what they hand out) from the recording stand-in.
A name Polygraphy or our code resolves that the generation lacks fails here as it would on that TensorRT. Prints one
JSON line per build mode."""
import json
import tempfile
import types
from pathlib import Path

import tensorrt as real

from deployprof.engine.api import probe
from deployprof.engine.build import BuildLog, BuildSettings, build_engine
from deployprof.engine.mode import select_mode

from .fake_trt import installed, make

PROFILE = {"x": ((1, 4), (2, 4), (4, 4))}


def hybrid(calls: list) -> types.ModuleType:
    stand_in = make(real.__version__, calls, dla_cores=2)
    module = types.ModuleType("tensorrt")
    module.__dict__.update(vars(real))
    module.Builder, module.OnnxParser = stand_in.Builder, stand_in.OnnxParser
    return module


def main() -> None:
    api = probe(real)
    modes = [("fp32", {}), ("fp16", {}), ("int8", {}), ("fp16 dla", {"settings": BuildSettings(dla_core=0)})]
    if api.strongly_typed_flag and not api.strongly_typed_only:
        modes.append(("fp16 explicit", {"explicit": True}))
    if api.int8_flag:
        modes.append(("int8 speed-only", {"speed_only": True}))
    for name, how in modes:
        calls: list = []
        error = None
        try:
            with tempfile.TemporaryDirectory() as tmp, installed(hybrid(calls)) as trt:
                api = probe(trt)
                precision = "fp32" if how.get("speed_only") else name.split()[0]
                mode = select_mode(api, precision, explicit=how.get("explicit", False),
                                   int8_speed_only=how.get("speed_only", False))
                build_engine(api, Path("m.onnx"), mode, PROFILE, how.get("settings", BuildSettings()),
                             Path(tmp) / "t.cache", BuildLog())
        except Exception as exc:  # reported, not raised: every mode is tried
            error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"mode": name, "error": error,
                          "network_flags": [c[1] for c in calls if c[0] == "network_flags"],
                          "builder_flags": sorted({f for c in calls if c[0] == "build" for f in c[1]})}))


if __name__ == "__main__":
    main()
