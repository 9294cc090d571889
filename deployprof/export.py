"""torch -> ONNX, one graph per stage, each checked against PyTorch in ONNX Runtime before it is trusted."""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ConfigError, ExportError
from .inputs import make_inputs
from .manifest import MANIFEST_VERSION, Manifest, StageSpec
from .presets import load_preset

log = logging.getLogger(__name__)

OPSET = 18
EXPORT_BATCH = 2   # torch.export specialises sizes 0 and 1, so the dynamic batch is traced at 2
EXPORTERS = ("dynamo", "torchscript")


def _export_stage(stage, feeds_t, path: Path, exporter: str) -> None:
    import torch

    names_in = [t.name for t in stage.inputs]
    names_out = [t.name for t in stage.outputs]
    args = tuple(feeds_t[n] for n in names_in)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # exporter chatter (e.g. missing torchvision ops)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=1024)
            dyn = tuple({stage.batch_axes[n]: batch} for n in names_in)
            prog = torch.onnx.export(stage.module, args, dynamo=True, input_names=names_in, output_names=names_out,
                                     dynamic_shapes=dyn, opset_version=OPSET, optimize=True, verbose=False)
            prog.save(str(path), external_data=False)
        else:
            axes = {n: {stage.batch_axes[n]: "batch"} for n in names_in + names_out}
            torch.onnx.export(stage.module, args, str(path), dynamo=False, input_names=names_in, output_names=names_out,
                              dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)


def _parity(stage, path: Path, seed: int, atol: float, rtol: float) -> float:
    """Max abs error of ONNX Runtime CPU against PyTorch at batch 1 and the traced batch."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (1, EXPORT_BATCH):
        feeds = make_inputs(stage.inputs, batch=batch, seed=seed + batch)
        with torch.no_grad():
            ref = stage.module(*(torch.from_numpy(feeds[t.name]) for t in stage.inputs))
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run([t.name for t in stage.outputs], feeds)
        for spec, r, g in zip(stage.outputs, ref, got):
            r = r.numpy()
            if r.shape != g.shape:
                raise ExportError(f"stage {stage.name}: output {spec.name} has shape {g.shape} in ONNX Runtime, {r.shape} in PyTorch (batch {batch})")
            err = float(np.max(np.abs(r - g))) if r.size else 0.0
            if not np.isfinite(err) or err > atol + rtol * float(np.max(np.abs(r))):
                raise ExportError(f"stage {stage.name}: ONNX Runtime differs from PyTorch by {err:.3g} on {spec.name} "
                                  f"(batch {batch}; tolerance {atol} + {rtol} x max|ref|); the export is wrong")
            worst = max(worst, err)
    return worst


def export_preset(preset_name: str, out: Path, *, exporter: Optional[str] = None, seed: int = 0,
                  atol: float = 1e-4, rtol: float = 1e-4) -> tuple[Manifest, dict[str, float]]:
    """Export every stage of a preset to `out`, validate it, and write manifest.json. Returns timings (s)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError("export needs PyTorch: pip install 'deployprof[export]' (or pass an existing export folder / .onnx file)") from None
    import onnx

    from .vla import build_stages

    if exporter not in (None, *EXPORTERS):
        raise ConfigError(f"unknown exporter {exporter!r}; expected one of {EXPORTERS}")
    preset = load_preset(preset_name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stages, schedule, action_output, action_shape = build_stages(preset)
    calls = {c.stage: c.repeat for c in schedule}
    specs, used, timings = [], set(), {}
    for stage in stages:
        path = out / f"{stage.name}.onnx"
        tmp = out / f".{stage.name}.onnx.tmp"
        feeds = make_inputs(stage.inputs, batch=EXPORT_BATCH, seed=seed)
        feeds_t = {k: torch.from_numpy(v) for k, v in feeds.items()}
        t0 = time.perf_counter()
        errors = []
        for name in ([exporter] if exporter else list(EXPORTERS)):
            try:
                _export_stage(stage, feeds_t, tmp, name)
                used.add(name)
                break
            except Exception as exc:  # the fallback exporter is tried next; both failing is an error
                errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                log.info("exporter %s failed on stage %s: %s", name, stage.name, exc)
        else:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"stage {stage.name}: every exporter failed ({'; '.join(errors)})")
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"stage {stage.name}: exported graph fails the ONNX checker: {str(exc).splitlines()[0]}") from None
        try:
            err = _parity(stage, tmp, seed, atol, rtol)
        except ExportError:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(path)
        timings[stage.name] = time.perf_counter() - t0
        specs.append(StageSpec(name=stage.name, file=path.name, inputs=stage.inputs, outputs=stage.outputs,
                               calls_per_step=calls.get(stage.name, 1), parity_max_abs_err=err))
    manifest = Manifest(schema_version=MANIFEST_VERSION, stages=tuple(specs), schedule=schedule,
                        action_output=action_output, action_shape=action_shape, preset=preset.name,
                        preset_config=preset.config, family=preset.family,
                        exporter="+".join(sorted(used)), opset=OPSET)
    manifest.write(out)
    return manifest, timings
