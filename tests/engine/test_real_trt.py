"""The TensorRT layer against NVIDIA's own bindings of 8.6, 10.13 and 11.4 (real_trt.py), not community stubs:
- the recording stand-in (fake_trt.py) offers, for each generation, only names that generation has, with its enum
  values and its parameter names;
- every `trt.X` / `trt.X.Y` name the layer touches exists in each generation, or is one engine/api.py probes for;
- every TensorRT method the layer calls fits an overload's pybind11 signature in each generation that has it
  (scripts/trt_signatures.py), and docs/TENSORRT.md's table of them is in step;
- Polygraphy's build path, as our build_engine drives it, resolves the TensorRT names it needs under each real module
  (real_polygraphy.py: the real module's names, the stand-in's objects; anything needing a real Builder is left to
  the first-contact self-test on hardware)."""
from __future__ import annotations

import ast
import enum
import importlib.util
import inspect
import json
import re
import sys

import pytest

from deployprof.engine.build import BuildSettings

from .fake_trt import make
from .real_trt import GENERATIONS, ROOT, api, run
from .test_build import _build

GENS = list(GENERATIONS)
# Stand-in class -> the TensorRT class it stands for.
CLASSES = {"ILogger": "ILogger", "Logger": "Logger", "IHostMemory": "IHostMemory", "Tensor": "ITensor",
           "Layer": "ILayer", "Network": "INetworkDefinition", "Profile": "IOptimizationProfile",
           "TimingCache": "ITimingCache", "Config": "IBuilderConfig", "Builder": "Builder", "OnnxParser": "OnnxParser",
           "ICudaEngine": "ICudaEngine"}
# Attributes the stand-in keeps for its own recording, not TensorRT's; classes whose constructor user code calls.
OWN = {"cache", "logger", "flags", "ins", "layers", "out", "data"}
CONSTRUCTED = {"Builder", "OnnxParser", "ILogger"}
LAYER = (*sorted((ROOT / "deployprof" / "engine").glob("*.py")), ROOT / "deployprof" / "backends" / "trt.py")


def _signatures():
    spec = importlib.util.spec_from_file_location("trt_signatures", ROOT / "scripts" / "trt_signatures.py")
    module = sys.modules["trt_signatures"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


sig = _signatures()


def _param_names(fn) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def _check_member(real: dict, target: str, member: str, value, out: list[str]) -> None:
    if member not in real:
        out.append(f"tensorrt.{target}.{member}")
        return
    if inspect.isfunction(value) and real[member]["kind"] == "method":
        ours = _param_names(value)
        theirs = [[n for n, _ in sig.parameters(s)] for s in real[member]["signatures"]]
        if not any(t[:len(ours)] == ours for t in theirs):
            out.append(f"tensorrt.{target}.{member}({', '.join(ours)}): real {' | '.join(map(str, theirs))}")


def disagreements(gen: str, tmp_path, make_fn=make) -> list[str]:
    """What the stand-in made as this generation offers that NVIDIA's module of it does not have."""
    real, out = api(gen), []
    m = make_fn(GENERATIONS[gen], [])
    for name, value in vars(m).items():
        if name.startswith("_") or value is None:
            continue
        target = CLASSES.get(name, name)
        if isinstance(value, type) and issubclass(value, enum.Enum):
            members = real["enums"].get(target)
            if members is None:
                out.append(f"tensorrt.{target}")
                continue
            for k, v in value.__members__.items():
                if k not in members:
                    out.append(f"tensorrt.{target}.{k}")
                elif isinstance(v, int) and int(v) != members[k]:
                    out.append(f"tensorrt.{target}.{k} = {int(v)} (real: {members[k]})")
        elif isinstance(value, type):
            if target not in real["classes"]:
                out.append(f"tensorrt.{target}")
                continue
            for k, v in vars(value).items():
                if k.startswith("_") and not (k == "__init__" and target in CONSTRUCTED):
                    continue
                if isinstance(v, type) and issubclass(v, enum.Enum):   # a nested enum (ILogger.Severity)
                    out += [f"tensorrt.{target}.{k}.{e}" for e in v.__members__
                            if e not in real["enums"].get(f"{target}.{k}", {})]
                else:
                    _check_member(real["classes"][target], target, k, v, out)
        elif callable(value) and name not in real["functions"]:
            out.append(f"tensorrt.{name}")
    # What the builder and parser hand out, with the attributes set on them.
    calls: list = []
    trt = make_fn(GENERATIONS[gen], calls)
    builder = trt.Builder(trt.ILogger())
    network = builder.create_network(0)
    for obj in (builder, network, builder.create_builder_config(), builder.create_optimization_profile(),
                network.get_input(0), network.get_layer(0), trt.OnnxParser(None, None)):
        target = CLASSES[type(obj).__name__]
        for k in set(vars(obj)) - OWN:
            _check_member(real["classes"][target], target, k, None, out)
        for k, v in vars(type(obj)).items():
            if not k.startswith("_"):
                _check_member(real["classes"][target], target, k, v, out)
    # The builder-config attributes our build sets (recorded by the stand-in's __setattr__):
    _, recorded = _build(GENERATIONS[gen], "fp16", tmp_path, settings=BuildSettings(opt_level=3))
    out += [f"tensorrt.IBuilderConfig.{c[1]}" for c in recorded
            if c[0] == "config" and c[1] not in real["classes"]["IBuilderConfig"]]
    return sorted(set(out))


@pytest.mark.parametrize("gen", GENS)
def test_the_stand_in_offers_only_what_each_generation_has(gen, tmp_path):
    found = disagreements(gen, tmp_path)
    assert not found, f"the stand-in offers, as TensorRT {gen}, what the real module lacks: " + "; ".join(found)


def test_a_drifted_stand_in_is_caught(tmp_path):
    def drifted(version, calls, **kw):
        m = make(version, calls, **kw)
        m.Builder.build_engine_v2 = lambda self: None                                # not a TensorRT method
        m.BuilderFlag = enum.Enum("BuilderFlag", ["TF32", "GPU_FALLBACK", "FP16"])  # 11.4 has no FP16
        m.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 1})
        m.OnnxParser.get_error = lambda self, i: ""                                 # real: index
        return m

    found = disagreements("11.4", tmp_path, drifted)
    assert {"tensorrt.Builder.build_engine_v2", "tensorrt.BuilderFlag.FP16",
            "tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED = 1 (real: 0)"} <= set(found), found
    assert any(f.startswith("tensorrt.OnnxParser.get_error(i)") for f in found), found


def _code_names() -> list[tuple[str, tuple[str, ...]]]:
    """(file:line, ("X",) or ("X", "Y")) for each `trt.X` / `trt.X.Y` the layer touches, in code or annotations."""
    out = []
    for path in LAYER:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trt":
                out.append((f"{path.name}:{node.lineno}", (node.attr,)))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and isinstance(node.value.value, ast.Name) and node.value.value.id == "trt":
                out.append((f"{path.name}:{node.lineno}", (node.value.attr, node.attr)))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                out += [(f"{path.name}:{node.lineno}", (m,)) for m in re.findall(r"^trt\.(\w+)$", node.value)]
    return out


def _probed() -> set[str]:
    """The names engine/api.py's probe looks for (`_has(x, "NAME")`, `getattr(trt, "NAME", None)`)."""
    tree = ast.parse((ROOT / "deployprof" / "engine" / "api.py").read_text())
    return {a.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.isidentifier()}


@pytest.mark.parametrize("gen", GENS)
def test_every_tensorrt_name_the_layer_touches_exists_or_is_probed(gen):
    real, probed, missing = api(gen), _probed(), []
    names = _code_names()
    assert len(names) > 20 and {"ICudaEngine", "ILogger", "Runtime"} <= {n[0] for _, n in names}
    for where, chain in names:
        head = chain[0]
        known = head in real["classes"] or head in real["functions"]
        if known and len(chain) == 2:
            known = chain[1] in real["classes"].get(head, {}) or chain[1] in real["enums"].get(head, {})
        if not known and not (set(chain) & probed):
            missing.append(f"trt.{'.'.join(chain)} ({where})")
    assert not missing, f"TensorRT {gen} has no " + ", ".join(missing)


def _apis() -> dict[str, dict]:
    return {gen: api(gen) for gen in GENS}


def test_every_call_fits_a_signature_in_each_generation_that_has_it():
    rows = sig.rows(_apis(), sig.calls())
    assert {"execute_async_v3", "set_tensor_address", "deserialize_cuda_engine", "Runtime"} <= {r["name"] for r in rows}
    bad = [f"{r['name']} in TensorRT {g}: {v['verdict']} ({', '.join(c.where for c in r['calls'])})"
           for r in rows for g, v in r["generations"].items() if v["verdict"] in ("absent", "MISMATCH")]
    assert not bad, "; ".join(bad)


def test_the_signature_call_check_fails_on_a_wrong_call():
    wrong = sig.Call("x.py:1", "set_tensor_address", 3, (), False, False)   # (name, memory) takes two
    unknown_kw = sig.Call("x.py:2", "execute_async_v3", 0, ("stream",), False, False)  # the keyword is stream_handle
    rows = {r["name"]: r for r in sig.rows(_apis(), [wrong, unknown_kw])}
    assert all(v["verdict"] == "MISMATCH" for r in rows.values() for v in r["generations"].values())


def test_the_signature_table_in_docs_is_in_step():
    doc = (ROOT / "docs" / "TENSORRT.md").read_text()
    want = sig.replace_section(doc, sig.table(_apis(), sig.calls()))
    assert doc == want, "docs/TENSORRT.md's signature table is stale: regenerate it as docs/TENSORRT.md says"


@pytest.mark.parametrize("gen", GENS)
def test_polygraphy_builds_under_the_real_module(gen):
    r = run(gen, "-m", "tests.engine.real_polygraphy")
    assert r.returncode == 0, r.stderr[-3000:]
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    failed = [x for x in results if x["error"]]
    assert results and not failed, failed
    flags = {x["mode"]: x for x in results}
    major = int(gen.split(".")[0])
    assert flags["fp32"]["network_flags"] == [1 if major < 10 else 0]   # 8.x: 1 << EXPLICIT_BATCH; 11 has none
    assert ("FP16" in flags["fp16"]["builder_flags"]) == (major <= 10)
