"""torch -> ONNX, one graph per stage, each checked against PyTorch in ONNX Runtime before it is trusted.
Full-size presets too large to hold in fp32 are exported from meta tensors: shapes only, weights as typed
graph inputs without data, for static analysis (the manifest marks such an export static_only)."""
from __future__ import annotations

import logging
import math
import re
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import export_cache
from .errors import ConfigError, ExportError
from .files import staged_folder
from .isolated import call_isolated
from .inputs import make_inputs
from .manifest import CallSpec, MANIFEST_VERSION, Manifest, StageSpec, TensorSpec, read_manifest
from .presets import Preset, load_preset
from .serial import from_dict

log = logging.getLogger(__name__)

OPSET = 18
EXPORT_BATCH = 2   # torch.export specialises sizes 0 and 1, so the dynamic batch is traced at 2
EXPORTERS = ("dynamo", "torchscript")
META_ABOVE_BYTES = 4 << 30  # fp32 weights above this: export shapes only (meta tensors)


def _export_stage(stage, args, path: Path, exporter: str, meta: bool) -> None:
    import torch

    names_in = [t.name for t in stage.inputs]
    names_out = [t.name for t in stage.outputs]
    for chatty in ("torch.onnx", "onnxscript"):  # exporter chatter (missing torchvision ops, skipped constant folds)
        logging.getLogger(chatty).setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dims: dict[str, object] = {}
            dyn = tuple({i: dims.setdefault(d, torch.export.Dim(d, min=1, max=1 << 16)) for i, d in stage.dynamic_axes(t).items()}
                        for t in stage.inputs)
            prog = torch.onnx.export(stage.module, args, dynamo=True, input_names=names_in, output_names=names_out,
                                     dynamic_shapes=_shaped_like_forward(stage.module, dyn), opset_version=OPSET,
                                     optimize=not meta, verbose=False)
            if meta:
                prog.save(str(path), include_initializers=False, keep_initializers_as_inputs=True, external_data=False)
            else:
                prog.save(str(path), external_data=False)
        else:
            if meta:
                raise ExportError("the TorchScript exporter cannot export meta tensors")
            axes = {t.name: stage.dynamic_axes(t) for t in (*stage.inputs, *stage.outputs)}
            torch.onnx.export(stage.module, args, str(path), dynamo=False, input_names=names_in, output_names=names_out,
                              dynamic_axes={k: v for k, v in axes.items() if v}, opset_version=OPSET, do_constant_folding=True)


def _shaped_like_forward(module, dyn: tuple) -> tuple:
    """torch.export wants dynamic_shapes in forward's own structure: a `*args` forward takes its tail as one tuple."""
    import inspect

    params = inspect.signature(module.forward).parameters.values()
    if not any(p.kind == p.VAR_POSITIONAL for p in params):
        return dyn
    n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    return (*dyn[:n], tuple(dyn[n:]))


def _parity(stage, path: Path, seed: int, dims: dict[str, int], atol: float, rtol: float,
            batches: tuple[int, ...] = (1, EXPORT_BATCH)) -> float:
    """Max abs error of ONNX Runtime CPU against PyTorch at each batch (by default 1 and the traced batch). Any
    failure, ONNX Runtime's refusals included, is one ExportError line naming the output or the batch."""
    import onnxruntime as ort
    import torch

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"stage {stage.name}: ONNX Runtime cannot load the exported graph: {_first_line(exc)}") from None
    worst = 0.0
    for batch in batches:
        feeds = make_inputs(stage.inputs, batch=batch, seed=seed + batch, dims=dims)
        with torch.no_grad():
            ref = _as_outputs(stage.module(*(torch.from_numpy(feeds[t.name]) for t in stage.inputs)))
        try:
            got = sess.run([t.name for t in stage.outputs], feeds)
        except Exception as exc:
            raise ExportError(f"stage {stage.name}: ONNX Runtime refuses batch {batch}: {_first_line(exc)}") from None
        for spec, r, g in zip(stage.outputs, ref, got):
            r = r.numpy()
            if r.shape != g.shape:
                raise ExportError(f"stage {stage.name}: output {spec.name} has shape {g.shape} in ONNX Runtime, {r.shape} in PyTorch (batch {batch})")
            if r.dtype.kind in "biu":   # masks and indices: equal or wrong
                err = 0.0 if np.array_equal(r, g) else math.inf
            else:
                err = float(np.max(np.abs(r - g))) if r.size else 0.0
            if not np.isfinite(err) or err > atol + rtol * float(np.max(np.abs(r))):
                raise ExportError(f"stage {stage.name}: ONNX Runtime differs from PyTorch by {err:.3g} on {spec.name} "
                                  f"(batch {batch}; tolerance {atol} + {rtol} x max|ref|); the export is wrong")
            worst = max(worst, err)
    return worst


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    """The cause in one line: the innermost exception of the chain (torch's exporter wraps the one that says what is
    wrong, `No ONNX function found for aten._is_all_true`, in a ConversionError whose first line is "Next steps:")."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen and str(inner).strip():
        exc = inner
        seen.add(id(exc))
    text = ANSI.sub("", str(exc)).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def _as_outputs(result) -> tuple:
    """A module's outputs as a tuple: one tensor, a tuple/list of tensors, or a dict of name -> tensor."""
    if isinstance(result, dict):
        return tuple(result.values())
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def export_preset(preset_name: "str | Preset", out: Path, *, exporter: Optional[str] = None, seed: int = 0,
                  atol: float = 1e-4, rtol: float = 1e-4, weights: str = "auto",
                  force: bool = False, own: bool = False, cached: bool = False,
                  say: Callable[[str], None] = log.info) -> tuple[Manifest, dict[str, float]]:
    """Export every stage of a preset to `out`, validate it, and write manifest.json. Returns seconds per stage
    (none when `cached` found the same export in the cache: export_cache.py; `say` tells which it is).
    weights: "real" (random fp32 weights, parity-checked), "meta" (shapes only), or "auto" (meta above 4 GiB).
    The folder is built aside and swapped in whole (files.staged_folder); a non-empty `out` needs `force`."""
    try:
        import torch  # noqa: F401  (a clear error before anything else)
    except ImportError:
        raise ConfigError("export needs PyTorch: pip install 'deployprof[export]' (or pass an existing export folder / .onnx file)") from None
    vla = _vla()
    if exporter not in (None, *EXPORTERS):
        raise ConfigError(f"unknown exporter {exporter!r}; expected one of {EXPORTERS}")
    if weights not in ("auto", "real", "meta"):
        raise ConfigError(f"--weights must be auto, real or meta, got {weights!r}")
    preset = preset_name if isinstance(preset_name, Preset) else load_preset(preset_name)  # loaded once, by the plan
    preset_name = preset.name
    meta = weights == "meta" or (weights == "auto" and 4 * sum(vla.count_parameters(preset).values()) > META_ABOVE_BYTES)
    if meta and exporter == "torchscript":
        raise ConfigError("a shapes-only (meta) export needs the dynamo exporter; drop --exporter torchscript")
    key = export_cache.key(preset, exporter=exporter, meta=meta, seed=seed, atol=atol, rtol=rtol) if cached else None
    with staged_folder(Path(out), force, own) as staging:
        if key and export_cache.restore(key, staging):
            say(f"{preset_name}: the same export (preset, exporter, torch, deployprof) was in the cache: copied to "
                f"{out}, each file checked by SHA-256 ({export_cache.root()})")
            return read_manifest(staging), {}
        say(f"exporting {preset_name} to {out}")
        result = _export_stages(preset, staging, exporter, seed, atol, rtol, meta)
        if key:
            export_cache.keep(key, staging)
        return result


def _vla():
    """deployprof/vla (the reference architectures and the stage wrapper), imported only where a torch module is
    exported: it imports torch, which profiling an existing ONNX export never needs."""
    from . import vla
    return vla


def _export_stages(preset, out: Path, exporter: Optional[str], seed: int, atol: float, rtol: float,
                   meta: bool) -> tuple[Manifest, dict[str, float]]:
    build = _vla().build_stages(preset, device="meta" if meta else "cpu")
    specs, used, timings = export_build(build, out, exporter, seed, atol, rtol, meta)
    manifest = Manifest(schema_version=MANIFEST_VERSION, stages=tuple(specs), schedule=build.schedule,
                        action_output=build.action_output, action_shape=build.action_shape, preset=preset.name,
                        preset_config=preset.config, family=preset.family, exporter="+".join(sorted(used)), opset=OPSET,
                        default_dims=build.default_dims, static_only=meta)
    manifest.write(out)
    return manifest, timings


def export_build(build, out: Path, exporter: Optional[str], seed: int, atol: float, rtol: float, meta: bool = False
                 ) -> tuple[list[StageSpec], set[str], dict[str, float]]:
    """Each stage of a FamilyBuild into `out` (a private staging folder), checked and compared with PyTorch: the
    stage specs, the exporters used, seconds per stage."""
    import onnx
    import torch

    calls = {c.stage: c.repeat for c in build.schedule}
    specs, used, timings = [], set(), {}
    for stage in build.stages:
        path = out / f"{stage.name}.onnx"  # out is this run's private staging folder: removed whole on failure
        feeds = make_inputs(stage.inputs, batch=EXPORT_BATCH, seed=seed, dims=build.default_dims)
        args = tuple(torch.from_numpy(feeds[t.name]).to("meta" if meta else "cpu") for t in stage.inputs)
        t0 = time.perf_counter()
        errors = []
        for name in ([exporter] if exporter else (["dynamo"] if meta else list(EXPORTERS))):
            try:
                _export_stage(stage, args, path, name, meta)
                used.add(name)
                break
            except Exception as exc:  # the fallback exporter is tried next; all failing is an error
                errors.append(f"{name}: {_first_line(exc)}")
                log.info("exporter %s failed on stage %s: %s", name, stage.name, exc)
        else:
            raise ExportError(f"stage {stage.name}: every exporter failed ({'; '.join(errors)})")
        try:
            onnx.checker.check_model(str(path), full_check=True)
            err = None if meta else _parity(stage, path, seed, build.default_dims, atol, rtol)
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"stage {stage.name}: exported graph fails the ONNX checker: {str(exc).splitlines()[0]}") from None
        timings[stage.name] = time.perf_counter() - t0
        declared = {t.name for t in stage.inputs}
        weight_inputs = ()
        if meta:
            graph = onnx.load(str(path), load_external_data=False).graph
            weight_inputs = tuple(i.name for i in graph.input if i.name not in declared)
        specs.append(StageSpec(name=stage.name, file=path.name, inputs=stage.inputs, outputs=stage.outputs,
                               calls_per_step=calls.get(stage.name, 1), weight_inputs=weight_inputs, parity_max_abs_err=err))
    return specs, used, timings


def load_factory(ref: str):
    """'pkg.mod:factory' -> the callable. The factory returns (module, example_inputs), where example_inputs is
    a tuple of tensors or a dict of name -> tensor (names become the graph's input names)."""
    import importlib

    mod_name, sep, attr = ref.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(f"--module expects 'package.module:factory', got {ref!r}")
    try:
        return getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--module {ref}: cannot import it ({exc}); is the package on PYTHONPATH?") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the module's own code failed as it was imported: the user's to fix
        raise ConfigError(f"--module {ref}: importing it raised {_failure(exc)}") from None


def _failure(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"exit({exc.code})"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _spec_from_tensor(name: str, t, dynamic_batch: bool):
    shape = tuple(("batch" if (i == 0 and dynamic_batch) else int(d)) for i, d in enumerate(t.shape))
    dtype = str(t.dtype).replace("torch.", "")
    if t.is_floating_point():
        return TensorSpec(name, dtype, shape)
    if dtype == "bool":
        return TensorSpec(name, dtype, shape, "ones")
    return TensorSpec(name, dtype, shape, "int", float(t.min()), float(t.max()) + 1)


def _call_factory(ref: str):
    """The user's factory, whose failures (an exception, sys.exit, a wrong return) are theirs to fix: one line."""
    factory = load_factory(ref)
    try:
        result = factory()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # any exception of theirs, sys.exit included, is one line naming it
        raise ConfigError(f"--module {ref}: the factory raised {_failure(exc)}; it must return (torch module, "
                          "example inputs)") from None
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and callable(getattr(result[0], "eval", None))):
        raise ConfigError(f"--module {ref}: the factory returned {type(result).__name__}; expected (torch module, "
                          "example inputs as a tuple of tensors or a dict of name -> tensor)")
    return result


def export_module_isolated(ref: str, out: Path, *, exporter: Optional[str] = None,
                           force: bool = False) -> tuple[Manifest, dict[str, float]]:
    """export_module in a process of its own: the user's factory runs there, and whatever it does to its process
    (os._exit(0) once ended `deployprof export` silently with exit 0) is one error line here."""
    manifest, timings = call_isolated("deployprof.export:export_module",
                                      {"ref": ref, "out": str(out), "exporter": exporter, "force": force},
                                      f"--module {ref}")
    return from_dict(Manifest, manifest), timings


def export_module(ref: str, out: Path, *, exporter: Optional[str] = None, dynamic_batch: bool = True,
                  atol: float = 1e-4, rtol: float = 1e-4, force: bool = False) -> tuple[Manifest, dict[str, float]]:
    """A user's own policy as a single-stage export with a manifest, parity-checked like the presets."""
    import torch

    module, example = _call_factory(ref)
    module.eval()
    if isinstance(example, dict):
        names, tensors = [str(k) for k in example], list(example.values())
    else:
        tensors = list(example if isinstance(example, (tuple, list)) else (example,))
        names = [f"input_{i}" for i in range(len(tensors))]
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ConfigError(f"--module {ref}: the example inputs must be tensors (a tuple, or a dict of name -> tensor), "
                          f"got {[type(t).__name__ for t in tensors]}")
    try:
        with torch.no_grad():
            result = module(*tensors)
    except Exception as exc:
        raise ConfigError(f"--module {ref}: the module's forward raised {_first_line(exc)} on the example inputs") from None
    outs = _as_outputs(result)
    out_names = [str(k) for k in result] if isinstance(result, dict) else [f"output_{i}" for i in range(len(outs))]
    if not outs or not all(isinstance(t, torch.Tensor) for t in outs):
        raise ConfigError(f"--module {ref}: forward must return a tensor, a tuple of tensors or a dict of name -> tensor; "
                          f"it returned {type(result).__name__} of {[type(t).__name__ for t in outs]}")
    batch_ok = dynamic_batch and all(t.dim() > 0 and t.shape[0] == tensors[0].shape[0] for t in (*tensors, *outs))
    with staged_folder(Path(out), force) as staging:
        return _export_module_stage(ref, module, names, tensors, out_names, outs, staging, exporter, batch_ok, atol, rtol)


def _fixed_batch(path: Path, inputs) -> bool:
    """Did the exporter fix an axis we declared dynamic (the model's code read the batch as a Python int)?"""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    declared = {t.name: t.shape for t in inputs}
    for vi in graph.input:
        dims = vi.type.tensor_type.shape.dim
        shape = declared.get(vi.name, ())
        if any(isinstance(d, str) and i < len(dims) and dims[i].HasField("dim_value") for i, d in enumerate(shape)):
            return True
    return False


def _export_module_stage(ref, module, names, tensors, out_names, outs, out: Path, exporter, batch_ok: bool,
                         atol: float, rtol: float) -> tuple[Manifest, dict[str, float]]:
    """Each exporter in turn until one gives a graph that accepts every batch and matches PyTorch; if the model's
    code fixes the batch for all of them, the graph is exported at the example's batch, and the manifest says so."""
    import onnx

    StageModule = _vla().StageModule
    path = out / "model.onnx"  # out is this run's private staging folder: removed whole on failure
    t0, errors, notes = time.perf_counter(), [], []
    for dynamic in ((True, False) if batch_ok else (False,)):
        inputs = tuple(_spec_from_tensor(n, t, dynamic) for n, t in zip(names, tensors))
        outputs = tuple(_spec_from_tensor(n, t, dynamic) for n, t in zip(out_names, outs))
        stage = StageModule("model", module, inputs, outputs)
        batch = int(tensors[0].shape[0]) if tensors[0].dim() else 1
        for name in ([exporter] if exporter else list(EXPORTERS)):
            try:
                _export_stage(stage, tuple(tensors), path, name, meta=False)
                onnx.checker.check_model(str(path), full_check=True)
                if dynamic and _fixed_batch(path, inputs):
                    raise ExportError("it fixed the batch (the model's code reads it as a Python int)")
                err = _parity(stage, path, 0, {}, atol, rtol, (1, EXPORT_BATCH) if dynamic else (batch,))
            except Exception as exc:
                errors.append(f"{name}{'' if dynamic else ' (static batch)'}: {_first_line(exc)}")
                log.info("--module %s: exporter %s failed: %s", ref, name, exc)
                continue
            if not dynamic and batch_ok:
                notes.append(f"batch: fixed at {batch} by the model's code; the graph takes batch {batch} only "
                             f"({'; '.join(errors)})")
            elif errors:
                notes.append(f"exported with {name} ({'; '.join(errors)})")
            spec = StageSpec(name="model", file=path.name, inputs=inputs, outputs=outputs, parity_max_abs_err=err)
            manifest = Manifest(schema_version=MANIFEST_VERSION, stages=(spec,), schedule=(CallSpec("model"),),
                                action_output=outputs[0].name, action_shape=outputs[0].shape, exporter=name,
                                opset=OPSET, module_factory=ref, notes=tuple(notes))
            manifest.write(out)
            return manifest, {"model": time.perf_counter() - t0}
    raise ExportError(f"--module {ref}: no exporter gave a graph that matches PyTorch ({'; '.join(errors)})")
