"""Roofline lower bounds from the static cost and a target profile, and predicted vs measured once runs exist.
A floor, not a forecast: real kernels reach a fraction of peak (the efficiency ratio says which)."""
from __future__ import annotations

from typing import Optional, Sequence

from ..environment import device_text
from ..results import FlopReport, MemoryNeed, Prediction, RooflinePrediction, RooflineStage, RunResult
from ..precision_names import weight_bytes
from ..targets import TargetProfile, load_target_profile, profile_for
from ..manifest import load_subject
from ..findings import measured_elsewhere
from ..flops.summary import kv_cache_bytes, stage_reports, unique_params

ASSUMPTIONS = ("dense peak of the precision (FP32 may use TF32 where the GPU has it; int4 weight-only computes in "
               "FP16), no sparsity; minimum traffic = weights at the precision read once (int4: MatMul/Gemm weights at "
               "4 bits + FP16 block scales, the rest FP16; a stage's 4-bit share taken as the policy's) + graph "
               "inputs/outputs; activations assumed to stay on chip; "
               "each stage call bounded separately and summed over the calls of one step (a growing KV cache at its "
               "starting length); host glue, launches and copies not counted")


def stage_floor(name: str, f: FlopReport, calls: int, target: TargetProfile, precision: str,
                matmul_share: float = 1.0) -> RooflineStage:
    peak = target.peak(precision) * 1e12
    bytes_min = weight_bytes(precision, f.params, round(f.params * matmul_share)) + f.io_bytes
    compute_ms = f.flops_total / peak * 1e3
    memory_ms = bytes_min / (target.memory_bandwidth_gbs * 1e9) * 1e3
    return RooflineStage(stage=name, calls_per_step=calls, flops=f.flops_total, min_bytes=bytes_min, compute_ms=compute_ms,
                         memory_ms=memory_ms, lower_bound_ms=max(compute_ms, memory_ms),
                         bound="compute" if compute_ms >= memory_ms else "memory")


def predict(flops: dict[str, FlopReport], calls: dict[str, int], target: TargetProfile, precision: str = "fp32",
            batch: int = 1, kv_cache_bytes: Optional[int] = None, params: Optional[int] = None,
            matmul_params: Optional[int] = None) -> RooflinePrediction:
    """`matmul_params`: of the parameters, those a MatMul/Gemm multiplies by (int4 makes them 4-bit; all if None)."""
    target.check([precision])
    n_params = params if params is not None else sum(f.params for f in flops.values())
    share = 1.0 if matmul_params is None or not n_params else matmul_params / n_params
    stages = tuple(stage_floor(n, f, calls.get(n, 1), target, precision, share) for n, f in flops.items())
    weights = weight_bytes(precision, n_params, matmul_params)
    kv = kv_cache_bytes or 0
    act = max((f.peak_activation_bytes for f in flops.values()), default=0)
    total = weights + kv + act
    return RooflinePrediction(
        target=target.name, power_mode=target.power_mode, precision=precision, peak_tflops=target.peak(precision),
        memory_bandwidth_gbs=target.memory_bandwidth_gbs, batch=batch, stages=stages,
        step_lower_bound_ms=sum(s.lower_bound_ms * s.calls_per_step for s in stages),
        memory=MemoryNeed(weights_bytes=weights, kv_cache_bytes=kv, peak_activation_bytes=act, total_bytes=total,
                          device_bytes=target.memory_bytes, fraction_of_device=total / target.memory_bytes,
                          unified_memory=target.unified_memory),
        assumptions=ASSUMPTIONS, assumed_dims={k: v for f in flops.values() for k, v in f.assumed_dims.items()})


def with_measured(pred: RooflinePrediction, runs: Sequence[RunResult], backend: Optional[str] = None,
                  measured_on: Optional[str] = None) -> RooflinePrediction:
    """Attach measured p50s of the same precision and batch (the fastest backend unless one is named): runs made on
    the device this prediction is for (`measured_on` names it), never another's."""
    import dataclasses

    mine = [r for r in runs if r.precision == pred.precision and r.batch == pred.batch and (backend is None or r.backend == backend)]
    best: dict[str, float] = {}
    for r in mine:
        best[r.stage] = min(best.get(r.stage, float("inf")), r.latency.p50_ms)
    stages = tuple(dataclasses.replace(s, measured_p50_ms=best[s.stage], efficiency=s.lower_bound_ms / best[s.stage])
                   if s.stage in best and best[s.stage] > 0 else s for s in pred.stages)
    step = best.get("policy_step") or (best.get(pred.stages[0].stage) if len(pred.stages) == 1 else None)
    return dataclasses.replace(pred, stages=stages, measured_step_p50_ms=step,
                               step_efficiency=pred.step_lower_bound_ms / step if step else None,
                               measured_on=measured_on if best else None)


def _step_inputs(manifest, root, batch: int, dims: Optional[dict[str, int]]
                 ) -> tuple[dict[str, int], Optional[int], int, int]:
    """Calls per step, KV cache bytes, parameters, and of them those a MatMul/Gemm multiplies by."""
    calls = {s.name: s.calls_per_step for s in manifest.stages}
    kv = kv_cache_bytes(manifest, manifest.binding(batch, dims))
    return calls, kv, unique_params(manifest, root), unique_params(manifest, root, matmul_only=True)


def predict_export(export_dir, target: "TargetProfile | str", precisions: Sequence[str] = ("fp32",), batch: int = 1,
                   dims: Optional[dict[str, int]] = None) -> Prediction:
    """`predict`: an export folder (shapes-only full-size exports included) at each precision."""
    target = load_target_profile(target) if isinstance(target, str) else target
    target.check(precisions)   # before counting: an impossible combination is one line, not a floor
    manifest, root = load_subject(str(export_dir))
    flops = stage_reports(manifest, root, batch, dims)
    calls, kv, params, matmul = _step_inputs(manifest, root, batch, dims)
    return Prediction(str(export_dir), tuple(predict(flops, calls, target, p, batch, kv, params, matmul) for p in precisions))


def predict_measured(manifest, root, flops: dict[str, FlopReport], runs: Sequence[RunResult], target: TargetProfile,
                     precisions: Sequence[str], batch: int, dims: Optional[dict[str, int]] = None
                     ) -> tuple[tuple[RooflinePrediction, ...], list[str]]:
    """Predictions for a profiled export on the target, with the measured p50s of the runs made on that device
    attached; runs made on another device are set against that device's own roofline (the `cpu` profile, or the
    bundled profile naming the GPU), never the target's. Returns the predictions and a warning per other device."""
    calls, kv, params, matmul = _step_inputs(manifest, root, batch, dims)
    groups: dict = {}
    for r in runs:
        groups.setdefault(r.measured_on, []).append(r)
    out, warnings = [], []
    for device, rs in groups.items():
        here = target.describes(device.kind, device.name)
        profile = target if here else profile_for(device.kind, device.name)
        if not here:
            warnings.append(measured_elsewhere(target.name, device_text(device), profile.name if profile else None))
        if profile is not None:   # no floor where that device does not run the precision at all
            out += [with_measured(predict(flops, calls, profile, p, batch, kv, params, matmul), rs,
                                  measured_on=device.name) for p in precisions if profile.refusal(p) is None]
    if not any(target.describes(d.kind, d.name) for d in groups):
        out = [predict(flops, calls, target, p, batch, kv, params, matmul) for p in precisions] + out
    return tuple(out), warnings
