"""The library behind each measuring command. `profile`: export (for a preset) -> precision variants -> static cost
(once per variant and batch) -> each backend launched -> accuracy -> report.json. The CLI only parses and renders."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .accuracy import AccuracyCheck, SEED, measure, write_reference
from .backends import BACKENDS, check_provider_options
from .config import CUDA_GRAPH_MODES, AccuracyConfig, CalibrationConfig, MeasureConfig, Settings
from .environment import capture, with_devices
from .errors import BackendUnavailableError, ConfigError, DeployprofError
from .breakdown import StaticNode, stage_cost, with_ceilings
from .flops.summary import policy_step_total, stage_reports
from .manifest import LoadedExport, check_bindings, graph_sha256, load_subject, read_manifest
from .precision import prepare_precision
from .precision.debug import debug_precision
from .precision_names import MIXED
from .results import (POLICY_STEP, AccuracyReport, Comparison, BenchResult, FlopReport, ModelInfo, PrecisionDebugReport, ProfileReport,
                      RunResult, Witness)
from .runfolder import COMPARE_PRECISION, PROFILE, TRAIN_BENCH, run_folder
from .runner import RunSpec, check_concurrency
from .worker import launch
from .devices import cuda_device_count, is_jetson
from .doctor import default_probe, doctor
from .engine.trtexec import AGREE, find_trtexec, witness
from .export import export_preset
from .findings import (SHAPES_ONLY, STEP_WITHOUT_GRAPHS, Warnings, contradictions, faster_than_floor, findings,
                       mfu_problem, mixed_not_found, no_cuda_graph, not_at_precision, not_at_spec, partial_quantization,
                       precision_warnings, run_warnings, skipped_backend)
from .abtest import interleaved_compare
from .policy import open_policy
from .measure.repeats import fold
from .lerobot import is_checkpoint, lerobot_version
from .presets import Preset, load_preset
from .qualify.roofline import predict_measured
from .report.render import render_all
from .targets import TargetProfile, load_target_profile
from .train import train_bench, with_mfu

log = logging.getLogger(__name__)
Say = Callable[[str], None]


def is_preset(subject: str) -> bool:
    """A path (export folder or .onnx) is profiled as is; anything else, or a YAML file, names a preset."""
    path = Path(subject)
    return not path.exists() or (path.is_file() and path.suffix in (".yaml", ".yml"))


def needs_export(subject: str) -> bool:
    """A preset (a name or a YAML file) or a LeRobot checkpoint folder: exported before it is measured, by profile,
    bench, compare-precision and sweeps alike. A missing path (`m.onnx`, `dir/x`) stays a missing model, not an
    unknown preset."""
    if is_checkpoint(Path(subject)):
        return True
    return is_preset(subject) and (Path(subject).exists() or ("/" not in subject and Path(subject).suffix != ".onnx"))


def resolve_subject(subject: str, out: Path, exporter: Optional[str] = None, say: Say = log.info,
                    task: str = "", preset: Optional[Preset] = None) -> str:
    """The export folder or .onnx file to measure: the given path, or the preset or LeRobot checkpoint exported into
    out/export (this run's own folder, never the user's). `preset`: the subject's preset, when already loaded."""
    if not needs_export(subject):
        return subject

    if is_checkpoint(Path(subject)):
        from .lerobot.export import export_lerobot

        say(f"exporting {subject} to {out / 'export'}")
        export_lerobot(Path(subject), out / "export", task=task, exporter=exporter, own=True)
    else:
        export_preset(preset or subject, out / "export", exporter=exporter, own=True, cached=True, say=say)
    return str(out / "export")


@dataclasses.dataclass(frozen=True)
class BackendPlan:
    """The backends a command will measure, resolved once before any work: those that can run here, the CUDA-graph
    modes of each, and the warnings said on the way (a profile's collector starts with them). Every later step reads
    it (graph modes were derived three times)."""
    names: tuple[str, ...]
    modes: dict[str, tuple[bool, ...]]
    warnings: tuple[str, ...]

    def runs_per_batch(self) -> int:
        return sum(len(self.modes[n]) for n in self.names)


def torch_module_missing(subject: Optional[str]) -> Optional[str]:
    """Why the torch backend cannot run `subject`: it builds the PyTorch module a preset or a --module export names,
    which a LeRobot checkpoint's export or a plain graph does not have (found before any work)."""
    if subject is None or is_preset(subject):
        return None
    path = Path(subject)
    if is_checkpoint(path):
        return ("a LeRobot checkpoint's policy runs inside LeRobot; its export holds the ONNX graphs, not a module "
                "the torch backend can build (its parity with LeRobot's select_action is in the export's manifest)")
    if path.is_file():
        return f"{path.name} is a plain ONNX graph, with no PyTorch module to run"
    try:
        manifest = read_manifest(path)
    except DeployprofError:
        return None   # reading the export says what is wrong with it
    if manifest.preset_config or manifest.module_factory:
        return None
    return f"{path} holds no PyTorch module (it was exported from a LeRobot checkpoint or a plain graph)"


def check_backends(names: list[str], skip_unavailable: bool, say: Say,
                   config: MeasureConfig = MeasureConfig(), subject: Optional[str] = None) -> BackendPlan:
    """The backends that can run here, on this subject (the others an error, or skipped with a warning), checked
    before any work."""
    check_provider_options(names, config.backend_options.provider_options)
    if config.backend_options.device == "cpu" and any(BACKENDS.get(n).needs_gpu for n in names):
        raise ConfigError(f"--device cpu: {', '.join(n for n in names if BACKENDS.get(n).needs_gpu)} run on a GPU "
                          "(pass --device cuda:N, or leave --device out)")
    for name in names:
        check_concurrency(name, config.concurrency)
    usable, warnings = [], Warnings(say)
    for name in names:
        avail = BACKENDS.get(name).availability()
        blocker = (BACKENDS.get(name).device_blocker(config.backend_options)
                   or (torch_module_missing(subject) if name == "torch" else None)) if avail.ok else None
        avail = dataclasses.replace(avail, ok=False, reason=blocker) if blocker else avail
        warnings.add(avail.warning)
        if avail.ok:
            usable.append(name)
        elif skip_unavailable:
            warnings.add(skipped_backend(name, avail.reason))
        else:
            hint = " (pass --skip-unavailable to profile the others)" if len(names) > 1 else ""
            raise BackendUnavailableError(f"backend {name} is unavailable: {avail.reason}{hint}")
    if not usable:
        raise BackendUnavailableError("none of the requested backends is available; see `deployprof backends`")
    if config.cross_check == "trtexec":
        if "trt" not in usable:
            raise ConfigError("--cross-check trtexec re-times the engines of the trt backend: add trt to the backends")
        if find_trtexec() is None:
            raise ConfigError("--cross-check trtexec: trtexec not found on PATH or in /usr/src/tensorrt/bin")
    modes = graph_modes(usable, config, warnings)  # of the backends that will run; --cuda-graph on with none: an error
    return BackendPlan(tuple(usable), modes, tuple(warnings.items))


@dataclasses.dataclass(frozen=True)
class StaticCost:
    """FLOPs of each stage and of a whole policy step at one batch: counted once, shared by every run; with
    `nodes`, each stage's nodes too, which every run's layer-time pass joins with (no measuring process counts
    the graph again)."""
    flops: dict[str, FlopReport]
    step_flops: Optional[int]
    nodes: dict[str, dict[str, StaticNode]] = dataclasses.field(default_factory=dict)


def static_cost(subject: LoadedExport, batch: int, dims: dict[str, int], shapes: Optional[dict] = None,
                per_node: bool = False) -> StaticCost:
    manifest, root = subject
    if per_node:
        bound = manifest.binding(batch, dims)
        counted = {s.name: stage_cost(root / s.file, bound, s.own_shapes(shapes), s.weight_inputs)
                   for s in manifest.stages}
        flops, nodes = {k: v[0] for k, v in counted.items()}, {k: v[1] for k, v in counted.items()}
    else:
        flops, nodes = stage_reports(manifest, root, batch, dims, shapes), {}
    step = policy_step_total(manifest, root, flops, batch, dims) if manifest.has_policy_step else None
    return StaticCost(flops, step, nodes)


def attach_flops(run: RunResult, cost: StaticCost) -> RunResult:
    total = cost.step_flops if run.stage == POLICY_STEP else \
        (cost.flops[run.stage].flops_total if run.stage in cost.flops else None)
    achieved = total / (run.latency.p50_ms / 1e3) / 1e9 if total and run.latency.p50_ms > 0 else None
    return dataclasses.replace(run, flops_per_run=total, achieved_gflop_per_s=achieved)


def graph_modes(names: list[str], config: MeasureConfig, warnings: Warnings) -> dict[str, tuple[bool, ...]]:
    """Which of off/on each backend is measured in under --cuda-graph, and a warning for each it cannot capture;
    --cuda-graph on with no backend able to is an error, before any work."""
    wanted, modes, blocked = CUDA_GRAPH_MODES[config.cuda_graph], {}, []
    for name in names:
        blocker = BACKENDS.get(name).cuda_graph_blocker(config.backend_options) if True in wanted else None
        modes[name] = tuple(g for g in wanted if not (g and blocker))
        if blocker:
            blocked.append(no_cuda_graph(name, blocker, bool(modes[name])))
    if names and not any(modes.values()):
        raise ConfigError("--cuda-graph on: " + "; ".join(blocked))
    warnings.extend(blocked)
    return modes


def check_batches(subject: LoadedExport, batches: tuple[int, ...]) -> None:
    """--batch N sets the `batch` axis of the inputs; a graph without one (fixed shapes, or a batch axis under
    another name) would run its one shape under another batch's label, with a throughput multiplied to match."""
    inputs = subject.manifest.external_inputs()
    if any(b != 1 for b in batches) and not any("batch" in t.shape for t in inputs):
        shapes = ", ".join(f"{t.name} {list(t.shape)}" for t in inputs[:4])
        raise ConfigError(f"--batch {','.join(map(str, batches))}: the graph's inputs have no `batch` axis ({shapes}), "
                          "so it runs these shapes only: drop --batch, bind a named axis with --dim NAME=N, or "
                          "re-export with a dynamic batch")


def measure_subject(subject: LoadedExport, names: list[str], modes: dict[str, tuple[bool, ...]], config: MeasureConfig,
                    say: Say, checks: Optional[dict[int, AccuracyCheck]] = None
                    ) -> tuple[list[RunResult], dict[int, StaticCost]]:
    """Every backend at every batch (and CUDA-graph mode, from the BackendPlan) on one subject, each run with the
    FLOPs it executed and (with `checks`, per batch) the accuracy of its own actions."""
    check_batches(subject, config.batches)
    costs = {b: static_cost(subject, b, config.dims, config.shapes, per_node=config.layer_profile)
             for b in config.batches}
    jobs = [(name, graph, batch) for name in names for graph in modes[name] for batch in config.batches]
    done: dict[tuple, list[list[RunResult]]] = {job: [] for job in jobs}
    rng = random.Random(config.seed)
    for rep in range(config.repeats):
        order = list(jobs)
        if config.repeats > 1:
            rng.shuffle(order)  # each round in its own order: a slow spell of the machine hits no configuration alone
        for name, graph, batch in order:
            # Only the first repetition judges accuracy and runs the layer-time pass: they do not vary between runs.
            cfg = dataclasses.replace(config, layer_profile=config.layer_profile and rep == 0,
                                      backend_options=dataclasses.replace(config.backend_options, cuda_graph=graph))
            where = "in process" if config.launcher == "inline" else "own process"
            again = f", repetition {rep + 1} of {config.repeats}" if config.repeats > 1 else ""
            say(f"measuring {name} {subject.manifest.precision}{' (CUDA graphs)' if graph else ''}, batch {batch} "
                f"({where}{again})")
            spec = RunSpec(subject.path, name, batch, cfg, policy_step=not graph,
                           accuracy=None if graph or rep else (checks or {}).get(batch),
                           static=costs[batch].nodes if cfg.layer_profile else {})
            done[(name, graph, batch)].append([attach_flops(r, costs[batch]) for r in launch(spec, subject)])
    runs: list[RunResult] = []
    for job in jobs:
        measured = [fold([rep[i] for rep in done[job]]) for i in range(len(done[job][0]))]
        runs += cross_check(measured, say) if config.cross_check == "trtexec" else measured
    return runs, costs


def cross_check(runs: list[RunResult], say: Say = log.info) -> list[RunResult]:
    """trtexec on each engine file these runs timed, after the measuring process has let the GPU go."""
    tool, out = find_trtexec(), []
    for r in runs:
        e = r.build.engine
        if e is None or tool is None:
            out.append(r)
            continue
        say(f"trtexec on the {r.stage} engine ({e.cache_key})")
        cmd, stats = witness(tool, e.engine_path, {k: tuple(v[1]) for k, v in e.shape_profile.items()}, r.cuda_graph)
        gpu = stats["GPU Compute Time"]
        ours = r.device_latency.p50_ms if r.device_latency else None
        ratio = ours / gpu["median"] if ours is not None and gpu["median"] > 0 else None
        out.append(dataclasses.replace(r, witness=Witness(
            "trtexec", tuple(cmd), gpu["median"], gpu.get("p99"), ours, ratio,
            None if ratio is None else AGREE[0] <= ratio <= AGREE[1])))
    return out


def reference_checks(base: LoadedExport, accuracy: AccuracyConfig, folder: Path, batches, dims: dict[str, int], say: Say
                     ) -> dict[int, AccuracyCheck]:
    """The reference's actions at each batch, written once into `folder` for every configuration to be judged on."""
    say(f"reference actions ({accuracy.reference}, {accuracy.samples} seeded policy steps)")
    checks = {}
    for batch in batches:
        path = folder / f"reference-b{batch}.npz"
        write_reference(base, accuracy.reference_backend, path, batch, accuracy.samples, SEED, dims)
        checks[batch] = AccuracyCheck(accuracy.reference, str(path), accuracy.samples, SEED, accuracy.atol,
                                      accuracy.min_cosine, accuracy.atol_per_dim)
    return checks


def prepare_variants(base: LoadedExport, precisions: list[str], out: Path, calib: CalibrationConfig,
                     accuracy: AccuracyConfig, warnings: Warnings, say: Say = log.info
                     ) -> tuple[dict[str, LoadedExport], list[PrecisionDebugReport]]:
    """Each precision's export, prepared from the loaded FP32 one into OUT/export-<precision> and loaded once. A
    mixed precision is found by precision-debug's search first (OUT/precision-debug-<base>/, on ort-cpu, judged
    like the profile's accuracy check); when nothing passes, it is not measured and a warning says why.
    Returns the variants and the searches."""
    variants, searches = {}, []
    for p in precisions:
        if p == "fp32":
            variants[p] = base
        elif p in MIXED:
            low = MIXED[p]
            say(f"searching {p}: the fewest components {low} keeps in FP32 to pass (precision-debug on ort-cpu)")
            found = debug_precision(base, low, out / f"precision-debug-{low}", accuracy=accuracy, calib=calib,
                                    progress=log.info)
            searches.append(found)
            if found.mixed_export is None:
                warnings.add(mixed_not_found(p, low, found.note))
            else:
                variants[p] = load_subject(found.mixed_export)
        else:
            say(f"preparing {p} from the FP32 export" + (f" (calibrating, {calib.method})" if p == "int8" else ""))
            variants[p] = load_subject(prepare_precision(base, p, out / f"export-{p}", calib))
    return variants, searches


def _with_speedups(runs: list[RunResult]) -> list[RunResult]:
    base = {(r.backend, r.cuda_graph, r.stage, r.batch): r.latency.p50_ms for r in runs if r.precision == "fp32"}
    out = []
    for r in runs:
        ref = base.get((r.backend, r.cuda_graph, r.stage, r.batch))
        out.append(dataclasses.replace(r, speedup_vs_fp32=ref / r.latency.p50_ms) if ref and r.precision != "fp32" else r)
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True)
class ProfilePlan:
    """What `profile` will do, resolved and checked once before any work (before --out is touched): every later
    step reads it. The subject's graphs are not known yet (a preset is exported by the first step)."""
    subject: str
    exported: bool                   # a preset or LeRobot checkpoint: exported into OUT/export first
    precisions: tuple[str, ...]      # fp32 first when it is measured beside the others
    backends: BackendPlan
    config: MeasureConfig
    calib: CalibrationConfig
    accuracy: AccuracyConfig
    exporter: Optional[str]
    task: str                        # a LeRobot checkpoint's instruction (SmolVLA), fixed at export
    target_name: Optional[str]
    target: Optional[TargetProfile]  # read once: a Jetson's live clocks, the cpu's measured ceilings
    preset: Optional[Preset] = None  # a preset subject, read (and checked) once
    interleave: bool = False         # each precision against FP32, timed in alternating blocks (interleave_precisions)

    def phases(self, self_check: bool) -> int:
        """How many steps say() will announce (a progress bar's length)."""
        runs = self.backends.runs_per_batch() * len(self.config.batches) * len(self.precisions) * self.config.repeats
        pairs = len(self.backends.names) * (len(self.precisions) - 1) if self.interleave else 0
        return self_check + self.exported + len(self.precisions) + 1 + bool(self.accuracy.samples) + runs + pairs


def plan_profile(subject: str, backends: list[str], settings: Settings = Settings(), *,
                 precisions: list[str] = ("fp32",), skip_unavailable: bool = False, target_name: Optional[str] = None,
                 with_fp32: bool = True, interleave: bool = False, say: Say = log.info) -> ProfilePlan:
    """Every check that needs no work: backends, options, reference, preset, target. with_fp32: FP32 is measured
    beside every other precision (its speed-up); a sweep's fp16 configuration leaves it out."""
    config, accuracy = settings.measure, settings.accuracy
    target = load_target_profile(target_name) if target_name else None
    if target is not None:
        target.check(precisions)   # fp8 on an Orin: one line naming both, before anything runs
    mixed = [p for p in precisions if p in MIXED]
    if mixed and not accuracy.samples:
        raise ConfigError(f"{mixed[0]} is found by judging actions (precision-debug's search): it needs the accuracy "
                          "check: drop --accuracy-samples 0 (or the sweep's / spec's samples: 0)")
    backend_plan = check_backends(backends, skip_unavailable, say, config, subject)
    BACKENDS.get(accuracy.reference_backend)  # an unknown backend lists the known ones
    if accuracy.samples and accuracy.reference_backend not in backend_plan.names:
        check_backends([accuracy.reference_backend], False, say, subject=subject)
    preset = None
    if is_checkpoint(Path(subject)):
        lerobot_version()  # no LeRobot, or another release: one line here, before --out is touched
    elif needs_export(subject):
        preset = load_preset(subject)  # an unknown or broken preset fails here
    elif not Path(subject).exists():
        load_subject(subject)  # a missing model: the one line `bench` says too, before --out is touched
    return ProfilePlan(
        subject=subject, exported=needs_export(subject), backends=backend_plan, config=config,
        calib=settings.calibration, accuracy=accuracy,
        precisions=tuple(dict.fromkeys(["fp32", *precisions] if with_fp32 else precisions)),
        exporter=settings.exporter, task=settings.task, target_name=target_name,
        target=target, preset=preset, interleave=interleave)


def board_self_check(plan: ProfilePlan, say: Say):
    """`doctor` as the first step of `profile --target T` when T is this kind of device (a GPU target with a CUDA
    device here, a Jetson target on a Jetson, `cpu`): its result goes in the report's environment."""
    target = plan.target
    if target is None:
        return None

    kind = target.kind
    here = "jetson" if is_jetson() else "gpu" if cuda_device_count() else "cpu"
    if kind != here:
        return None  # a prediction for another device: nothing to check here
    device = "cpu" if kind == "cpu" else f"cuda:{plan.config.backend_options.gpu_index}"
    probe = default_probe(device)
    if not target.describes(probe.kind, probe.device_name()):
        return None  # another model of the same kind (qualification and the roofline say so)
    say(f"checking this device against {plan.target_name} (deployprof doctor)")
    return doctor(None if kind == "cpu" else plan.target_name, device, probe)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The plan made concrete: the FP32 export loaded, each precision's variant, the backends that will run."""
    base: LoadedExport
    subjects: dict[str, LoadedExport]
    backends: tuple[str, ...]
    searches: tuple[PrecisionDebugReport, ...] = ()   # precision-debug's, one per mixed precision


def prepare(plan: ProfilePlan, out: Path, warnings: Warnings, say: Say) -> Prepared:
    """Export (a preset), load, check the bindings, prepare each precision."""
    base = load_subject(resolve_subject(plan.subject, out, plan.exporter, say, plan.task, plan.preset))  # read once
    check_bindings(base, plan.config.dims, plan.config.shapes)
    usable, precisions = plan.backends.names, plan.precisions
    if plan.config.cuda_graph != "off" and base.manifest.has_policy_step:
        warnings.add(STEP_WITHOUT_GRAPHS)
    if base.manifest.static_only:
        warnings.add(SHAPES_ONLY)
        usable, precisions = (), ("fp32",)
    variants, searches = prepare_variants(base, list(precisions), out, plan.calib, plan.accuracy, warnings, say)
    return Prepared(base, variants, usable, tuple(searches))


def measure_prepared(plan: ProfilePlan, prep: Prepared, warnings: Warnings, say: Say
                     ) -> tuple[list[RunResult], StaticCost]:
    """Every precision's runs (each judged against the reference's actions), the FP32 graph's static cost, and a
    warning for each backend that cannot run a precision."""
    config, batches = plan.config, plan.config.batches
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="deployprof-ref-") as refs:
        checks = reference_checks(prep.base, plan.accuracy, Path(refs), batches, config.dims, say) \
            if prep.backends and plan.accuracy.samples else None
        say("counting FLOPs")
        cost = None
        for p, sub in prep.subjects.items():
            names = [n for n in prep.backends if p in BACKENDS.get(n).artifact_precisions]
            for n in (n for n in prep.backends if n not in names):
                warnings.add(not_at_precision(n, p, BACKENDS.get(n).artifact_precisions))
            runs_p, costs_p = measure_subject(sub, names, plan.backends.modes, config, say, checks)
            runs += runs_p
            if p == "fp32":
                cost = costs_p[batches[0]]
    return runs, cost or static_cost(prep.base, batches[0], config.dims, config.shapes)  # FP32's, measured or not


def profile(plan: ProfilePlan, out: Path, say: Say = log.info,
            phases: Callable[[int], None] = lambda n: None, force: bool = False) -> ProfileReport:
    """(plan_profile, before any work) -> self-check -> prepare -> measure -> assemble -> write. say() announces each
    phase; phases() is told how many there will be (for a progress bar)."""
    out = Path(out)
    check = board_self_check(plan, say)  # before the run: judge the board, then the policy
    with run_folder(out, PROFILE, plan.subject, force, say):  # another run refused; INCOMPLETE until the report is written
        phases(plan.phases(check is not None))
        warnings = Warnings(say, found=plan.backends.warnings)   # every warning of this profile, in one list
        prep = prepare(plan, out, warnings, say)
        runs, cost = measure_prepared(plan, prep, warnings, say)
        report = _assemble(plan, prep, runs, cost, warnings, check)
        if plan.interleave:
            report = dataclasses.replace(report, interleaved=interleave_precisions(plan, prep, say))
        say("writing report.json, report.md, report.html")
        _write(report, out, say)
    return report


def interleave_precisions(plan: ProfilePlan, prep: Prepared, say: Say) -> tuple[Comparison, ...]:
    """`profile --interleave`: each precision's export against the FP32 one on each backend that runs it, timed in
    alternating blocks in one window (`compare --interleave`): the speed-up to trust on a shared machine, where two
    separate runs can differ by more than any precision does."""
    fp32, out = prep.subjects.get("fp32"), []
    for name in prep.backends if fp32 is not None else ():
        for p, sub in prep.subjects.items():
            if p != "fp32" and p in BACKENDS.get(name).artifact_precisions:
                say(f"interleaving {p} with fp32 on {name}")
                out.append(interleaved_compare(Path(fp32.path), Path(sub.path), name, None,
                                               min(plan.config.max_duration_s, 30.0), plan.config.batches[0],
                                               options=plan.config.backend_options))
    return tuple(out)


def _assemble(plan: ProfilePlan, prep: Prepared, runs: list[RunResult], cost: StaticCost, warnings: Warnings,
              check) -> ProfileReport:
    """The report of a profile from what was measured: where it ran, speed-ups, every warning and finding, the
    roofline on the target (and on the device that ran), the board's self-check."""
    base, subjects, config, target = prep.base, prep.subjects, plan.config, plan.target
    environment = capture()
    runs = with_ceilings(list(with_devices(_with_speedups(runs), environment)), target)
    partial = [partial_quantization(p, stage, why) for p, s in subjects.items()
               for stage, why in s.manifest.precision_info.get("stages_quantized_at_compute_ops_only", {}).items()]
    calls = {st.name: st.calls_per_step for st in base.manifest.stages}
    warnings.extend([*run_warnings(runs, cost.flops, calls), *precision_warnings(runs), *partial], say=False)
    manifest, root = base
    roofline = ()
    if target is not None:
        roofline, elsewhere = predict_measured(manifest, root, cost.flops, runs, target, list(subjects),
                                               config.batches[0], config.dims)
        warnings.extend([*elsewhere, *faster_than_floor(roofline)], say=False)
    if check is not None:
        environment = dataclasses.replace(environment, self_check=check)
        if check.at_spec is False:
            warnings.add(not_at_spec(check), say=False)
    return ProfileReport(
        created_utc=_now(),
        model=ModelInfo(source=str(plan.subject), preset=manifest.preset, family=manifest.family,
                        stages=tuple(s.name for s in manifest.stages),
                        stage_sha256={s.name: graph_sha256(root / s.file) for s in manifest.stages},
                        calls_per_step={s.name: s.calls_per_step for s in manifest.stages}, exporter=manifest.exporter),
        environment=environment, settings=config, flops=cost.flops, policy_step_flops=cost.step_flops,
        runs=tuple(runs), warnings=tuple(warnings.items), findings=findings(runs, roofline, calls),
        precision_info={p: s.manifest.precision_info for p, s in subjects.items() if p != "fp32"},
        roofline=roofline, precision_debug=prep.searches)


def _write(report: ProfileReport, out: Path, say: Say) -> None:
    """report.json first and whole; then the views, each of which may fail alone (a warning, the run complete)."""
    report.write(out / "report.json")
    for problem in render_all(report, out):
        say(f"warning: {problem}")


def compare_precisions(export: Path, precisions: list[str], *, backend: str = "ort-cpu",
                       accuracy: AccuracyConfig = AccuracyConfig(), out: Optional[Path] = None,
                       calib: CalibrationConfig = CalibrationConfig(), say: Say = log.info,
                       force: bool = False) -> AccuracyReport:
    """`compare-precision`: each precision on `backend` against the reference, at batch 1, in this process; the
    prepared exports kept under `out` if given."""
    check_backends(list(dict.fromkeys([backend, accuracy.reference_backend])), False, say, subject=str(export))
    exported = needs_export(str(export))
    if exported and is_preset(str(export)):
        load_preset(str(export))   # an unknown name is one line before --out is touched
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp, \
            (run_folder(out, COMPARE_PRECISION, export, force, say) if out else contextlib.nullcontext(Path(tmp))) as keep:
        base = load_subject(resolve_subject(str(export), Path(tmp), say=say) if exported else export)
        warnings = Warnings()
        variants, _ = prepare_variants(base, precisions, keep, calib, accuracy, warnings, say)
        if warnings:   # a mixed precision that nothing passes: there is no variant to judge
            raise ConfigError(warnings.items[0])
        check = reference_checks(base, accuracy, Path(tmp), (1,), {}, say)[1]
        results = []
        for sub in variants.values():
            with open_policy(sub, backend) as step:
                results.append(measure(check, step, backend, 1, {}))
    return AccuracyReport(subject=str(export), reference=accuracy.reference, samples=accuracy.samples,
                          accuracy=tuple(results))


def bench(subject: str, backend: str, precision: Optional[str] = None, config: MeasureConfig = MeasureConfig(),
          calib: CalibrationConfig = CalibrationConfig(), say: Say = log.info,
          phases: Callable[[int], None] = lambda n: None) -> BenchResult:
    """`bench`: one backend on an ONNX file or export folder, FLOPs attached; no report written. With `precision`
    other than the export's own, that variant is prepared from the FP32 export first; without, the export is measured
    as it is (a variant `profile` or `precision-debug` wrote included). say() names each phase, phases() is told how
    many there are."""
    backend_plan = check_backends([backend], False, say, config, str(subject))
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        # a preset (or LeRobot checkpoint) is measured as `profile` measures it: its export, made in a private folder
        loaded = load_subject(resolve_subject(str(subject), Path(tmp), say=say)
                              if needs_export(str(subject)) else subject)
        check_bindings(loaded, config.dims, config.shapes)
        as_is = precision is None or precision == loaded.manifest.precision
        precision = loaded.manifest.precision if precision is None else precision
        phases((not as_is) + backend_plan.runs_per_batch() * len(config.batches) * config.repeats)
        if not as_is:
            say(f"preparing {precision}")
        prepared = loaded if as_is else load_subject(prepare_precision(loaded, precision, Path(tmp) / precision, calib))
        runs, costs = measure_subject(prepared, [backend], backend_plan.modes, config, say)
        calls = {st.name: st.calls_per_step for st in prepared.manifest.stages}
    runs = with_ceilings(list(with_devices(runs, capture())), None) if config.layer_profile else runs
    warnings = Warnings(found=backend_plan.warnings)
    warnings.extend([*run_warnings(runs, costs[config.batches[0]].flops, calls), *contradictions(runs, calls)],
                    say=False)
    return BenchResult(subject=str(subject), backend=backend, precision=precision, settings=config, runs=tuple(runs),
                       warnings=tuple(warnings.items))


def train_profile(preset: str, out: Path, cfg, target_name: Optional[str] = None, say: Say = log.info,
                  phases: Callable[[int], None] = lambda n: None, force: bool = False) -> ProfileReport:
    """`train-bench`: train on the synthetic task, then write OUT/report.json (+ .md, .html) like a profile."""
    p = load_preset(preset)
    with run_folder(out, TRAIN_BENCH, preset, force, say):  # another run refused; INCOMPLETE until the report is written
        phases(2)
        result = train_bench(preset, cfg, say=say)
        if target_name:  # after training: the cpu profile's bandwidth probe must not land in the training peak RSS

            result = with_mfu(result, load_target_profile(target_name))
        report = ProfileReport(
            created_utc=_now(),
            model=ModelInfo(source=preset, preset=p.name, family=p.family, stages=(), stage_sha256={}, calls_per_step={}),
            environment=capture(), settings=None, flops={}, policy_step_flops=None, runs=(), training=(result,),
            warnings=tuple(w for w in [mfu_problem(result)] if w))
        _write(report, out, say)
    return report
