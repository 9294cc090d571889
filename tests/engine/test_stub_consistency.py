"""The recording TensorRT stand-in (fake_trt.py) must not drift from the API it imitates: every module name, enum
member, class member and builder-config attribute it offers for TensorRT 10 exists in `tensorrt-stubs` 10.13 (type
stubs of the real Python API, installed by scripts/test.sh with --no-deps). Read line by line, not imported and not
parsed as Python: the 10.13.0.35.1 stubs do not parse (`add_scale_nd` has a required argument after defaults)."""
import enum
import re
import importlib.util
import os
from pathlib import Path

import pytest

from deployprof.engine.build import BuildSettings

from .fake_trt import make
from .test_build import _build

# Stand-in class -> the TensorRT class it stands for.
CLASSES = {"ILogger": "ILogger", "Logger": "Logger", "IHostMemory": "IHostMemory", "Tensor": "ITensor", "Layer": "ILayer", "Network": "INetworkDefinition",
           "Profile": "IOptimizationProfile", "TimingCache": "ITimingCache", "Config": "IBuilderConfig",
           "Builder": "Builder", "OnnxParser": "OnnxParser", "ICudaEngine": "ICudaEngine"}
NEWER_THAN_STUBS = {"EngineStat"}  # TensorRT 10.14+/11 names the code probes for; absent from the 10.13 stubs


def _stubs() -> dict[str, set[str]]:
    spec = importlib.util.find_spec("tensorrt_bindings")
    path = Path(next(iter(spec.submodule_search_locations))) / "tensorrt.pyi" if spec else None
    if path is None or not path.exists():
        if os.environ.get("DEPLOYPROF_REQUIRE_TRT_STUBS") == "1":
            pytest.fail("tensorrt-stubs is not installed (scripts/test.sh installs it with --no-deps)")
        pytest.skip("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs==10.13.0.35.1)")
    members: dict[str, set[str]] = {"": set()}
    current = None
    for line in path.read_text().splitlines():
        if m := re.match(r"class (\w+)\b", line):
            current = m.group(1)
            members[""].add(current)
            members[current] = set()
        elif m := re.match(r"def (\w+)\(", line):
            members[""].add(m.group(1))
            current = None
        elif current and (m := re.match(r"    (?:def (\w+)\(|class (\w+)\b|(\w+)\s*[:=])", line)):
            members[current].add(next(g for g in m.groups() if g))
        elif line and not line[0].isspace():
            current = None
    return members


def _public(obj) -> set[str]:
    return {n for n in vars(obj) if not n.startswith("_")}


def _missing(stubs, tmp_path, make=make) -> list[str]:
    m = make("10.3.0", [])
    missing = []
    for name, value in vars(m).items():
        if name.startswith("_") or value is None or name in NEWER_THAN_STUBS:
            continue
        target = CLASSES.get(name, name)
        if target not in stubs[""]:
            missing.append(f"tensorrt.{target}")
        elif isinstance(value, type) and issubclass(value, enum.Enum):
            missing += [f"tensorrt.{target}.{k}" for k in value.__members__ if k not in stubs[target]]
        elif isinstance(value, type):
            missing += [f"tensorrt.{target}.{k}" for k in _public(value) if k not in stubs[target]]
    seen = set()
    calls: list = []  # the nested classes, reached through what the builder and parser hand out
    trt = make("10.3.0", calls)
    builder = trt.Builder(trt.ILogger())
    for obj in (builder, builder.create_network(0), builder.create_builder_config(), builder.create_optimization_profile(),
                builder.create_network(0).get_input(0), builder.create_network(0).get_layer(0),
                trt.OnnxParser(None, None)):
        cls = type(obj).__name__
        seen.add(cls)
        target = CLASSES[cls]
        for member in _public(type(obj)) | (_public(obj) - {"cache", "logger", "flags", "ins", "layers", "out", "name",
                                                           "shape", "data"}):
            if member not in stubs[target]:
                missing.append(f"tensorrt.{target}.{member}")
    # The builder-config attributes our build sets (recorded by the stand-in's __setattr__):
    _, recorded = _build("10.3.0", "fp16", tmp_path, settings=BuildSettings(opt_level=3))
    missing += [f"tensorrt.IBuilderConfig.{c[1]}" for c in recorded if c[0] == "config" and c[1] not in stubs["IBuilderConfig"]]
    assert {"Builder", "OnnxParser", "Network", "Config", "Profile", "Tensor", "Layer"} <= seen
    return sorted(set(missing))


def test_every_name_the_stand_in_offers_for_tensorrt10_exists_in_the_real_api(tmp_path):
    missing = _missing(_stubs(), tmp_path)
    assert not missing, "the stand-in offers names TensorRT 10.13 does not have: " + ", ".join(missing)


def test_a_drifted_stand_in_is_caught(tmp_path):
    def drifted(version, calls, **kw):
        m = make(version, calls, **kw)
        m.Builder.build_engine_v2 = lambda self: None   # not a TensorRT method
        return m

    assert _missing(_stubs(), tmp_path, drifted) == ["tensorrt.Builder.build_engine_v2"]
