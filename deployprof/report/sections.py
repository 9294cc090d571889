"""Tables shared by the Markdown and HTML reports, as (title, header, rows): one place decides their content."""
from __future__ import annotations

from collections import defaultdict

from ..results import ProfileReport, to_dict
from .summary import fmt_bytes, fmt_count, fmt_ms, pct_ci, pct_ci_stats

Table = tuple[str, tuple[str, ...], list[tuple[str, ...]]]


def runs_table(report: ProfileReport) -> Table:
    rows = [(r.target, r.backend, r.precision, str(r.batch), pct_ci(r, "p50"), fmt_ms(r.latency.p90_ms), pct_ci(r, "p99"),
             f"{fmt_ms(r.latency.mean_ms)} ± {fmt_ms(r.latency.std_ms)}", str(r.latency.count),
             fmt_ms(r.device_latency.p50_ms) if r.device_latency else "-", f"{r.cold_start.load_ms:.0f}",
             fmt_ms(r.cold_start.first_run_ms), "yes" if r.latency.noisy else "")
            for r in report.runs]
    return ("All runs", ("target", "backend", "precision", "batch", "p50 [CI]", "p90", "p99 [CI]", "mean ± std", "n",
                         "device p50", "load ms", "first run ms", "noisy"), rows)


def stage_table(report: ProfileReport) -> Table:
    rows = []
    for r in report.runs:
        if r.stage_mean_ms:
            rows.append((f"{r.backend}/{r.precision} b{r.batch}",
                         *(f"{k} {fmt_ms(v)}" for k, v in r.stage_mean_ms.items()), f"glue {fmt_ms(r.glue_overhead_ms or 0.0)}"))
    return ("Policy step breakdown (mean ms per step)", ("run", *[""] * (max((len(r) for r in rows), default=1) - 1)), rows)


def flops_table(report: ProfileReport) -> Table:
    calls = report.model.calls_per_step
    rows = [(name, str(calls.get(name, 1)), fmt_count(f.macs), fmt_count(f.flops_total), fmt_count(f.params),
             fmt_bytes(f.weight_bytes), fmt_bytes(f.peak_activation_bytes),
             f"{f.arithmetic_intensity:.2f}" if f.arithmetic_intensity else "-", "lower bound" if f.lower_bound else "exact")
            for name, f in report.flops.items()]
    if report.policy_step_flops:
        rows.append(("policy step", "", "", fmt_count(report.policy_step_flops), "", "", "", "", ""))
    return ("Static cost per graph (dense FLOPs = 2 x MACs)", ("graph", "calls/step", "MACs", "FLOPs total", "params",
                                                             "weights", "peak activations", "FLOP/byte", ""), rows)


def op_type_flops(report: ProfileReport) -> dict[str, float]:
    """FLOPs per op type over one policy step (each stage weighted by its calls per step)."""
    out: dict[str, float] = defaultdict(float)
    for name, f in report.flops.items():
        for op, c in f.by_op_type.items():
            out[op] += c.flops_total * report.model.calls_per_step.get(name, 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def accuracy_table(report: ProfileReport) -> Table:
    rows = [(a.precision, str(a.samples), f"{a.action.max_abs:.4g}", f"{a.action.mean_abs:.4g}", f"{a.action.rel_l2:.4g}",
             f"{a.action.cosine_mean:.6f}", f"{a.action.cosine_min:.6f}",
             f"{a.token_agreement:.1%}" if a.token_agreement is not None else "-",
             "-" if a.passed is None else ("PASS" if a.passed else "FAIL")) for a in report.accuracy]
    return ("Accuracy against FP32 (same inputs and noise, action space)",
            ("precision", "samples", "max |err|", "mean |err|", "rel L2", "cosine mean", "cosine min", "bin agreement", "verdict"), rows)


def control_table(report: ProfileReport) -> Table:
    rows = [(f"{r.backend}/{r.precision}", r.target, f"{c.rate_hz:g}", f"{c.deadline_misses}/{c.requests}",
             f"{c.deadline_miss_rate:.2%}", fmt_ms(c.response_p99_ms), fmt_ms(c.jitter_ms),
             f"{c.effective_action_rate_per_s:.0f}" if c.effective_action_rate_per_s else "-")
            for r in report.runs if (c := r.control)]
    return ("Control loop (fixed rate)", ("run", "target", "Hz", "misses", "miss rate", "response p99", "jitter ms", "actions/s"), rows)


def telemetry_table(report: ProfileReport) -> Table:
    rows = []
    for r in report.runs:
        t = r.telemetry
        if t is None:
            continue
        power = ", ".join(f"{k} {v / 1000:.2f} W" for k, v in t.power_mw_mean.items())
        rows.append((f"{r.backend}/{r.precision}", r.target, t.source, power,
                     f"{t.energy_per_inference_mj:.1f}" if t.energy_per_inference_mj is not None else "-",
                     f"{t.energy_per_action_mj:.2f}" if t.energy_per_action_mj is not None else "-",
                     f"{t.gpu_freq_mhz_min:.0f}-{t.gpu_freq_mhz_max:.0f}" if t.gpu_freq_mhz_min is not None else "-",
                     f"{max(t.temperature_c_max.values()):.1f}" if t.temperature_c_max else "-",
                     t.power_mode or "-", {True: "yes", False: "NO", None: "-"}[t.clocks_locked],
                     "THROTTLED" if t.throttled else "", "; ".join(t.notes)))
    return ("Power, clocks and temperature during the timed runs", ("run", "target", "source", "mean power", "mJ/inference",
                                                                    "mJ/action", "GPU MHz", "max C", "power mode",
                                                                    "clocks locked", "", "notes"), rows)


def layers_table(report: ProfileReport) -> Table:
    rows = [(f"{r.backend}/{r.precision}", l.stage, l.name[:70], l.precision or "-", f"{l.mean_ms:.4f}", f"{l.share:.1%}",
             ", ".join(l.onnx_nodes[:3]) + (" ..." if len(l.onnx_nodes) > 3 else ""))
            for r in report.runs for l in r.layers[:8]]
    return ("Slowest engine layers (separate profiling pass)", ("run", "stage", "layer", "precision", "mean ms", "share", "ONNX nodes"), rows)


def transfers_table(report: ProfileReport) -> Table:
    rows = [(f"{r.backend}/{r.precision}", r.target, fmt_ms(t.h2d_mean_ms), fmt_bytes(t.h2d_bytes), fmt_ms(t.d2h_mean_ms),
             fmt_bytes(t.d2h_bytes), str(t.repeats), "pinned" if t.pinned_host_memory else "pageable")
            for r in report.runs if (t := r.transfers)]
    return ("Host<->device copies (own pass, CUDA events; not in the latency above)",
            ("run", "target", "H2D ms", "H2D bytes", "D2H ms", "D2H bytes", "repeats", "host memory"), rows)


def roofline_table(report: ProfileReport) -> Table:
    rows = []
    for p in report.roofline:
        for s in p.stages:
            rows.append((f"{p.target}{'@' + p.power_mode if p.power_mode else ''}", p.precision, s.stage, str(s.calls_per_step),
                         f"{s.lower_bound_ms:.4f}", s.bound, fmt_ms(s.measured_p50_ms) if s.measured_p50_ms else "-",
                         f"{s.efficiency:.1%}" if s.efficiency else "-"))
        rows.append((p.target, p.precision, "policy step", "", f"{p.step_lower_bound_ms:.4f}", "",
                     fmt_ms(p.measured_step_p50_ms) if p.measured_step_p50_ms else "-",
                     f"{p.step_efficiency:.1%}" if p.step_efficiency else "-"))
        m = p.memory
        rows.append((p.target, p.precision, "memory needed", "", fmt_bytes(m.total_bytes), f"{m.fraction_of_device:.1%} of device",
                     "", ""))
    return ("Roofline: predicted floor vs measured p50", ("target", "precision", "stage", "calls", "floor ms/call", "bound",
                                                          "measured p50 ms", "efficiency"), rows)


def training_table(report: ProfileReport) -> Table:
    rows = []
    for t in report.training:
        conv = (f"step {t.converged_step} ({t.converged_s:.1f} s)" if t.converged_step else f"not within {t.steps} steps")
        rows.append((t.preset, t.loss, t.device, str(t.batch), f"{t.optimizer} lr {t.lr:g}", t.mixed_precision or "fp32",
                     "yes" if t.grad_checkpointing else "", fmt_count(t.frozen_params) if t.frozen_params else "",
                     pct_ci_stats(t.step_time, "p50"), f"{t.samples_per_s:.1f}", f"{t.epoch_s:.1f} ({t.dataset_size})",
                     f"{t.loss_curve[0]:.4g} -> {t.loss_curve[-1]:.4g}", f"{conv}, target {t.converge_target:.4g}",
                     fmt_bytes(t.host_peak_rss_bytes), fmt_bytes(t.device_peak_bytes), fmt_count(t.train_flops_per_step),
                     f"{t.achieved_tflops * 1e3:.2f}", f"{t.mfu:.1%} of {t.mfu_target}" if t.mfu is not None else "-"))
    return ("Training (behaviour cloning on a seeded synthetic dataset)",
            ("preset", "loss", "device", "batch", "optimizer", "precision", "checkpointing", "frozen", "step ms p50 [CI]",
             "samples/s", "epoch s (samples)", "loss first -> last", "convergence", "host peak", "device peak",
             "train FLOPs/step (3x fwd)", "GFLOP/s", "MFU"), rows)


def environment_table(report: ProfileReport) -> Table:
    e = report.environment
    rows = [("deployprof", e.deployprof_version), ("python", e.python), ("platform", e.platform), ("CPU", f"{e.cpu_model} ({e.cpu_count} logical)"),
            ("GPUs", ", ".join(e.gpus) or "-"), ("driver", e.driver_version or "-"),
            *((k, str(v)) for k, v in (("Jetson", e.jetson_model), ("L4T", e.l4t_release), ("power mode", e.power_mode),
                                       ("clocks locked", e.clocks_locked)) if v is not None),
            *((k, v or "not installed") for k, v in e.packages.items()),
            ("model", f"{report.model.source} ({report.model.family or 'custom'}, exporter {report.model.exporter})"),
            *((f"sha256 {k}", v[:16] + "...") for k, v in report.model.stage_sha256.items())]
    return ("Environment and model", ("", ""), rows)


def provenance_table(report: ProfileReport) -> Table:
    seen, rows = set(), []
    for r in report.runs:
        b = r.build
        key = (b.backend, b.precision_requested, r.target if b.engine else "")
        if key in seen:
            continue
        seen.add(key)
        detail = ", ".join(f"{k}={v}" for k, v in b.options.items())
        if b.engine:
            e = b.engine
            detail = (f"{r.target}: TensorRT {e.tensorrt_version} on {e.gpu_name} (sm {e.compute_capability}), {e.build_mode}, "
                      f"{e.layer_count} layers {e.layer_precisions}, engine {fmt_bytes(e.engine_bytes)}, "
                      f"{'cached' if e.reused_from_cache else f'built in {e.build_s:.1f} s'}, key {e.cache_key}")
        rows.append((b.backend, f"{b.runtime} {b.runtime_version}", b.device, f"{b.precision_requested} -> {b.precision_effective}",
                     ", ".join(b.providers_active) + (" (FALLBACK)" if b.fallback else ""), detail))
    for p, info in report.precision_info.items():
        rows.append(("precision", p, "", "", "", str(to_dict(info))[:300]))
    return ("Build provenance", ("backend", "runtime", "device", "precision", "active", "detail"), rows)


ALL = (runs_table, stage_table, control_table, telemetry_table, transfers_table, layers_table, training_table, flops_table,
       roofline_table, accuracy_table, provenance_table, environment_table)


def tables(report: ProfileReport, which=ALL) -> list[Table]:
    """The non-empty tables among `which`, in order."""
    return [t for t in (f(report) for f in which) if t[2]]
