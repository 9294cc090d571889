"""Each configuration's bottleneck named from what was measured (crafted results: the rules, not a GPU)."""
import dataclasses

from deployprof.findings import finding, findings
from deployprof.results import TransferTimes

from .test_results import make_report
from .conftest import FAST, invoke


def _run(**kw):
    base = make_report().runs[0]
    return dataclasses.replace(base, **kw)


def _busy(pct):
    return dataclasses.replace(make_report().runs[0].telemetry, gpu_util_pct_mean=pct)


def test_a_gpu_idle_between_kernels_is_launch_bound_and_graphs_are_named():
    plain = _run(telemetry=_busy(20.0), transfers=None)
    assert "launch-bound: the GPU was busy 20% of the step (NVML); try --cuda-graph both" in finding(plain, [plain], ())
    fast = dataclasses.replace(plain.latency, p50_ms=plain.latency.p50_ms / 2.4)
    graph = _run(telemetry=_busy(85.0), transfers=None, cuda_graph=True, latency=fast)
    assert "CUDA graphs measured 2.4x faster" in finding(plain, [plain, graph], ())


def test_copies_longer_than_compute_are_copy_bound():
    r = _run(telemetry=_busy(90.0), transfers=TransferTimes(50.0, 50.0, 1 << 30, 1 << 20, 10, False))
    assert "copy-bound: host<->device copies take 100.000 ms" in finding(r, [r], ())


def test_otherwise_the_roofline_names_the_dominant_stage():
    rep = make_report()
    r = _run(telemetry=_busy(90.0), transfers=None, precision="fp16")
    line = finding(r, [r], rep.roofline)
    assert line.endswith("a dominates the step and is memory-bound on rtx-4090 at 50.0% of its floor (GPU busy 90%)")
    cpu = _run(telemetry=None, transfers=None, precision="fp16")
    assert findings([cpu], ()) == () and "memory-bound" in findings([cpu], rep.roofline)[0]


def test_cuda_graph_both_on_a_cpu_only_machine_says_why_and_measures_without(tiny_export, tmp_path):
    fast = [*FAST, "--accuracy-samples", "0"]
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "r"), "--cuda-graph", "both", *fast])
    assert res.exit_code == 0, res.output
    assert "ort-cpu: no CUDA graph (ort-cpu runs on the CPU" in res.output and "measured without" in res.output
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "s"), "--cuda-graph", "on", *fast])
    assert res.exit_code == 1 and res.output.startswith("error: --cuda-graph on: ort-cpu: no CUDA graph")
    assert not (tmp_path / "s").exists()


def test_runs_made_elsewhere_are_never_set_against_the_targets_roofline(tiny_export):
    """`profile --target jetson-orin-nx-16gb` on a CPU once said "memory-bound on jetson-orin-nx-16gb" and plotted CPU
    points on the Jetson's roofline: the target keeps its floor only, the runs go on their own device's roofline."""
    from deployprof.manifest import load_subject
    from deployprof.flops.summary import stage_reports
    from deployprof.qualify.roofline import predict_measured
    from deployprof.results import MeasuredDevice
    from deployprof.targets import load_target_profile

    manifest, root = load_subject(str(tiny_export))
    flops = stage_reports(manifest, root, 1, {})
    cpu = MeasuredDevice("cpu", "Some CPU")
    runs = [_run(stage=s, precision="fp32", measured_on=cpu) for s in ("policy_step", *flops)]
    preds, warnings = predict_measured(manifest, root, flops, runs, load_target_profile("jetson-orin-nx-16gb"),
                                       ["fp32"], 1)
    jetson = [p for p in preds if p.target == "jetson-orin-nx-16gb"]
    assert len(jetson) == 1 and jetson[0].measured_on is None and jetson[0].measured_step_p50_ms is None
    assert not any(s.measured_p50_ms for s in jetson[0].stages)
    own = [p for p in preds if p.target == "cpu"]
    assert own and own[0].measured_on == "Some CPU" and own[0].measured_step_p50_ms
    assert "measured on Some CPU (cpu), not on jetson-orin-nx-16gb" in warnings[0]
    line = finding(runs[0], runs, preds)
    assert "jetson" not in line and "on cpu" in line


def test_a_cause_shared_by_stages_is_one_warning_listing_them():
    """pi0-small's report had two warnings per stage and pushed the summary off the first screen."""
    from deployprof.findings import run_warnings

    base = make_report().runs[0]
    runs = [dataclasses.replace(base, stage=s, stop="time_cap", stopped_by="time cap 30 s, not converged: x",
                                loop_wall_s=30.0, telemetry=None, build=dataclasses.replace(base.build, speed_only=False))
            for s in ("vision", "prefix", "denoise", "policy_step")]
    warnings = run_warnings(runs, {})  # the crafted latency also drifts: two causes, two lines
    assert len(warnings) == 2 and "the load changed during the run" in warnings[0]
    assert warnings[1].startswith("trt/fp32 b1 vision, prefix, denoise, policy_step: did not converge within the time "
                                  "cap (30 s)")


def test_progress_says_time_left_only_from_phases_of_the_same_kind():
    """A mean over unlike phases once said ~1 s left before a 20 s measurement and ~679 s for a run of 134 s: the
    estimate now comes from finished phases of the running phase's kind, and there is none before one finished."""
    import io

    from rich.console import Console

    from deployprof.report.progress import PhaseBar, eta_text

    assert eta_text(30.0, 3, 9, 10.0) == "30 s, ~60 s left" and eta_text(30.0, 3, 9) == "30 s"
    now = [0.0]
    buf = io.StringIO()
    bar = PhaseBar(Console(file=buf, force_terminal=False, width=200), clock=lambda: now[0], live=False)
    bar.plan(6)
    for message, length in [("exporting", 100.0), ("reference actions", 1.0), ("measuring a", 20.0),
                            ("measuring b", 30.0), ("measuring c", 25.0), ("writing reports", 0.0)]:
        bar(message)
        now[0] += length
    lines = buf.getvalue().splitlines()
    assert lines[0] == "[1/6] exporting" and lines[1] == "[2/6] reference actions (100 s)"
    assert lines[2] == "[3/6] measuring a (101 s)"                        # no measuring phase finished: no guess
    assert lines[3] == "[4/6] measuring b (121 s, ~60 s left)"            # 3 phases left at 20 s
    assert lines[4] == "[5/6] measuring c (151 s, ~60 s left)"            # 2 left at the upper median of 20 and 30 s
    assert lines[5] == "[6/6] writing reports (176 s)"
    # on a terminal the clock ticks between phases (once a second), unless the timed loop shares this process
    assert PhaseBar(Console(file=io.StringIO()), live=True).progress.live.auto_refresh
    assert not PhaseBar(Console(file=io.StringIO()), live=False).progress.live.auto_refresh


def test_figures_that_contradict_each_other_are_findings_that_say_which_to_trust():
    from deployprof.findings import contradictions
    from deployprof.results import Breakdown

    base = _run(telemetry=None, stop=None, stopped_by=None)
    base = dataclasses.replace(base, latency=dataclasses.replace(base.latency, too_few_samples=(), noisy=False))
    lat = lambda ms, p50=None: dataclasses.replace(base.latency, mean_ms=ms, p50_ms=p50 or ms)  # noqa: E731
    alone = [dataclasses.replace(base, stage="a", latency=lat(0.1)), dataclasses.replace(base, stage="b", latency=lat(0.1))]
    step = dataclasses.replace(base, stage="policy_step", stage_mean_ms={"a": 0.12, "b": 1.2})  # b: 4 calls -> 3x
    lines = contradictions([*alone, step], {"a": 1, "b": 4})
    assert len(lines) == 1 and "slower inside the step than alone (b 3.0x): trust the step's figure" in lines[0]
    # The demo once showed a prefix of 157.7 ms alone and 18.2 ms inside the step without a word:
    prefix = dataclasses.replace(base, stage="prefix", latency=lat(157.7))
    step = dataclasses.replace(base, stage="policy_step", stage_mean_ms={"prefix": 18.2})
    (line,) = contradictions([prefix, step], {"prefix": 1})
    assert "slower alone than inside the step (prefix 8.7x): trust the step's figure" in line
    # "7.667 ms profiled vs 116.363 ms unprofiled (0.07x)": the latency pass was the disturbed one
    b = Breakdown("a", "onnxruntime-profiler", 20, 7.667, 116.363, 7.667 / 116.363, 7.0, 0.9, (), (), ())
    (line,) = contradictions([dataclasses.replace(alone[0], breakdown=b)])
    assert "profiled pass ran faster than the latency pass" in line and "distrust its figure" in line
    slow = dataclasses.replace(b, pass_stage_ms=2.0, latency_stage_ms=0.1, overhead=20.0)
    assert "the profiler slowed the stage 20.0x" in contradictions([dataclasses.replace(alone[0], breakdown=slow)])[0]
    # One stage on two runtimes, far apart: neither flagged, a difference of the runtimes
    torch = dataclasses.replace(alone[0], backend="torch", latency=lat(0.1, p50=0.9))
    (line,) = contradictions([alone[0], torch])
    assert "torch 9.0x slower than" in line and "neither run is flagged" in line
    flagged = dataclasses.replace(torch, latency=dataclasses.replace(torch.latency, noisy=True))
    assert "torch is flagged (see the warnings): trust the other" in contradictions([alone[0], flagged])[0]


def test_int8_slower_than_fp32_is_judged_between_runs():
    import numpy as np

    from deployprof.findings import precision_warnings
    from deployprof.measure.repeats import fold
    from deployprof.measure.stats import compute_stats

    base = _run(telemetry=None, stop=None, stopped_by=None, accuracy=None)

    def run(precision, ms, seed):
        lat = compute_stats(list(np.random.default_rng(seed).normal(ms, 0.02, 400)))
        return dataclasses.replace(base, stage="policy_step", precision=precision, latency=lat)

    (one,) = precision_warnings([run("fp32", 2.0, 0), run("int8", 2.3, 1)])
    assert "INT8 measured slower than FP32" in one and "one run each" in one and "compare --interleave" in one
    fp32 = fold([run("fp32", m, i) for i, m in enumerate((2.0, 2.05, 1.97))])
    int8 = fold([run("int8", m, 10 + i) for i, m in enumerate((2.6, 2.55, 2.62))])
    (rep,) = precision_warnings([fp32, int8])
    assert "INT8 is SLOWER than FP32" in rep and "between 3 and 3 runs" in rep
    assert precision_warnings([fp32, fold([run("int8", m, 20 + i) for i, m in enumerate((2.0, 2.1, 1.95))])]) == []


def test_one_collector_says_each_warning_once_as_found_and_keeps_their_order():
    """pipeline's warnings: one list through plan -> prepare -> measure -> assemble (five functions once kept their
    own, and a warning found while preparing was said where a similar one was not)."""
    from deployprof.findings import Warnings

    said = []
    w = Warnings(said.append, found=["planned"])   # said while planning, kept first
    w.add("while measuring")
    w.add("while measuring")
    w.add(None)
    w.extend(["at assembly", "planned"], say=False)   # printed with the report's own list
    assert w.items == ["planned", "while measuring", "at assembly"] and said == ["warning: while measuring"]


def test_a_precision_the_runtime_only_emulates_says_its_latency_is_not_that_precisions():
    from deployprof.findings import precision_warnings

    base = _run()
    run = dataclasses.replace(base, precision="fp8", accuracy=None, build=dataclasses.replace(
        base.build, precision_effective="fp8 (emulated: FP8 Q/DQ around FP32 kernels)"))
    (line,) = precision_warnings([run])
    assert line.startswith(f"{base.backend}/fp8 ran emulated: FP8 Q/DQ around FP32 kernels")
    assert "its latency is not what fp8 arithmetic gives" in line
    assert precision_warnings([dataclasses.replace(run, build=base.build)]) == []
