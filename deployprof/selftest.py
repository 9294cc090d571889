"""First contact with a real TensorRT: a three-layer network built at fp32 and fp16 through the path `profile`
takes (the trt backend: Polygraphy build, engine cache, our stream), run and compared with ONNX Runtime on the
CPU, reopened from the cache, profiled once per layer with IProfiler. One screen, to paste into a bug report."""
from __future__ import annotations

import dataclasses
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .config import BackendOptions
from .manifest import LoadedExport, load_subject
from . import __version__
from .backends import BACKENDS

SHAPES = {"x": (4, 64), "w1": (64, 128), "w2": (128, 32)}
LIMITS = {"fp32": 1e-2, "fp16": 3e-2}   # relative L2 error against ONNX Runtime (fp32 allows TF32)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class SelfTest:
    backend: str
    versions: tuple[tuple[str, str], ...]
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def write_network(folder: Path, precision: str) -> Path:
    """MatMul, Relu, MatMul with fixed weights; the fp16 graph computes in fp16 behind fp32 inputs and outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    dtype, elem = (np.float16, TensorProto.FLOAT16) if precision == "fp16" else (np.float32, TensorProto.FLOAT)
    w1 = (rng.standard_normal(SHAPES["w1"]) / 8).astype(dtype)
    w2 = (rng.standard_normal(SHAPES["w2"]) / 11).astype(dtype)
    nodes = [helper.make_node("MatMul", ["xc", "w1"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["a"], name="relu"),
             helper.make_node("MatMul", ["a", "w2"], ["yc"], name="fc2")]
    if precision == "fp16":
        nodes = [helper.make_node("Cast", ["x"], ["xc"], to=elem, name="in_cast"), *nodes,
                 helper.make_node("Cast", ["yc"], ["y"], to=TensorProto.FLOAT, name="out_cast")]
    else:
        nodes = [helper.make_node("Identity", ["x"], ["xc"], name="in"), *nodes,
                 helper.make_node("Identity", ["yc"], ["y"], name="out")]
    graph = helper.make_graph(nodes, "deployprof_selftest",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPES["x"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (SHAPES["x"][0], SHAPES["w2"][1]))],
                              [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "selftest.onnx"
    onnx.save(model, str(path))
    return path


def _subjects(work: Path) -> dict[str, LoadedExport]:
    """fp32, and fp16 that knows its fp32 source (the builder-flag route of TensorRT <= 10 builds from it)."""
    fp32 = load_subject(write_network(work / "fp32", "fp32"))
    fp16 = load_subject(write_network(work / "fp16", "fp16"))
    manifest = dataclasses.replace(fp16.manifest, precision="fp16", precision_info={"source_export": str(work / "fp32")})
    return {"fp32": fp32, "fp16": dataclasses.replace(fp16, manifest=manifest)}


def _reference(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _versions(info) -> tuple[tuple[str, str], ...]:
    rows = [("deployprof", __version__), ("python", platform.python_version()), ("machine", platform.machine())]
    try:
        import polygraphy

        rows.append(("polygraphy", polygraphy.__version__))
    except ImportError:
        rows.append(("polygraphy", "not installed"))
    if info is not None:
        rows += [("runtime", f"{info.runtime} {info.runtime_version}"), ("device", info.device),
                 ("cuda bindings", info.options.get("cuda", "?"))]
        if info.engine is not None:
            rows += [("cuda runtime / driver", f"{info.engine.cuda_runtime_version} / {info.engine.driver_version}")]
    return tuple(rows)


def run_self_test(backend: str = "trt", device: str = "cuda:0", work: Optional[Path] = None,
                  say: Callable[[str], None] = lambda s: None) -> SelfTest:
    """Every check runs even when an earlier one fails; a failure carries the runtime's last error lines."""
    cls = BACKENDS.get(backend)
    with tempfile.TemporaryDirectory(prefix="deployprof-selftest-") as tmp:
        root = Path(work or tmp)
        subjects = _subjects(root)
        x = np.random.default_rng(0).standard_normal(SHAPES["x"]).astype(np.float32)
        ref = _reference(Path(subjects["fp32"].path), x)
        options = BackendOptions(device=device, cache_dir=str(root / "cache"))
        checks: list[Check] = []
        info = None
        for precision, subject in subjects.items():
            for attempt in ("build", "reuse"):
                name = f"{precision} {'build and run' if attempt == 'build' else 'reopen from cache'}"
                say(f"self-test: {name}")
                b = cls(subject.manifest.stages[0], subject.root, subject.manifest, options)
                try:
                    with b:
                        info = b.build_info
                        checks += _checks(b, precision, attempt, x, ref)
                except Exception as exc:  # every failure is a row of the report, never a traceback
                    log: list[str] = getattr(getattr(b, "blog", None), "errors", lambda: [])()[-2:]
                    checks.append(Check(name, False, f"{type(exc).__name__}: {exc}" + "".join(f" | {l}" for l in log)))
        return SelfTest(backend, _versions(info), tuple(checks))


def _checks(b, precision: str, attempt: str, x: np.ndarray, ref: np.ndarray) -> list[Check]:
    out: list[Check] = []
    prov = b.build_info.engine
    if attempt == "build":
        what = (f"{prov.build_mode}; built in {prov.build_s:.2f} s, {prov.engine_bytes} B, layers "
                f"{prov.layer_precisions}" if prov else b.build_info.precision_effective)
        out.append(Check(f"{precision} build", True, what))
    else:
        reused = bool(prov and prov.reused_from_cache)
        out.append(Check(f"{precision} reopened from the engine cache", reused,
                         "reused, not rebuilt" if reused else "rebuilt: the cache key or its provenance record differs"))
    y = b.run({"x": x})["y"].astype(np.float64)
    rel = float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30))
    out.append(Check(f"{precision} {attempt}: output vs ONNX Runtime CPU", bool(np.isfinite(rel) and rel <= LIMITS[precision]),
                     f"relative L2 error {rel:.2e} (limit {LIMITS[precision]:.0e}), max abs {float(np.max(np.abs(y - ref))):.2e}"))
    if attempt == "reuse":
        layers = b.slowest_layers({"x": x})
        out.append(Check(f"{precision} per-layer profile (IProfiler)", bool(layers),
                         ", ".join(f"{l.name} {l.mean_ms * 1e3:.1f} us" for l in layers[:4]) or "no layer reported"))
    return out
