"""`deployprof sweep SWEEP.yaml`: a matrix of configurations (subjects x backends x precisions x batches x targets,
optionally x fleet devices), each profiled on its own, stored in the results store as it finishes (the checkpoint:
a rerun skips what is stored), a failure recorded with its reason while the sweep goes on. The sweep report shows a
latency-vs-accuracy Pareto plot per device and a PASS/FAIL matrix.

    name: nightly                    # optional; default: the file's name
    subjects: [pi0-small, exports/my_policy]
    backends: [ort-cpu, {name: trt, measure: {cuda_graph: on}}]   # an axis value may carry its own options
    precisions: [fp32, fp16, int8-mixed]   # int8-mixed: precision-debug's search, reused from the user's cache
    batches: [1]
    targets: [jetson-agx-orin-64gb]  # optional: roofline target of each run (and the spec's target)
    devices: [jetson-agx-orin, rtx-4090]   # optional: fleet labels, dispatched with --ray
    measure: {duration: 2, accuracy_samples: 8, layer_profile: false}   # any option of `profile` that changes a
                                     # measurement, under its name (--max-duration: max_duration): options.OPTIONS
    spec: spec.yaml                  # optional: qualify every configuration against it
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from .config import Settings
from .errors import ConfigError, DeployprofError
from .files import RUN_MARKER, confine, parse_yaml, read_document, write_json_atomic, write_text_atomic
from .runfolder import SWEEP, SWEEP_EXPORT, run_folder
from .results import SweepEntry, SweepReport, document, main_stage_of, report_from_data
from .targets import load_target_profile, target_named_in
from .fleet import dispatch
from .options import BY_NAME, RENAMED, defaults
from .precision_names import refusal
from .presets import load_preset
from .qualify.spec import load_spec
from .qualify.verdict import qualify_report
from .serial import to_dict
from .store import Store, device_name, redact
from .report.sweep_html import render_sweep_html
from .pipeline import is_preset, plan_profile, profile, resolve_subject
from .backends import BACKENDS

log = logging.getLogger(__name__)
Say = Callable[[str], None]

AXES = {"subjects": "subject", "backends": "backend", "precisions": "precision", "batches": "batch",
        "targets": "target", "devices": "device"}
# The options a sweep may set (globally or per axis value): every option of the table a file can set, by its name.
FILE_KEYS = tuple(o.name for o in BY_NAME.values() if o.file_ok)
# A configuration without --iterations or --duration is adaptive, but a sweep's are bounded by this cap (seconds).
SWEEP_MAX_DURATION_S = 10.0


@dataclass(frozen=True)
class Configuration:
    subject: str
    backend: str
    precision: str
    batch: int
    target: Optional[str]
    device: Optional[str]
    measure: tuple[tuple[str, Any], ...]     # merged options as the command line hands them over, sorted: part of
                                             # the identity

    def key(self, sweep: str, spec_id: Optional[str] = None) -> str:
        """The checkpoint key: the sweep's name, everything that defines this measurement, and the spec's content."""
        payload = json.dumps([sweep, dataclasses.asdict(self), *([spec_id] if spec_id else [])], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def label(self) -> str:
        return " ".join(x for x in (self.subject, self.backend, self.precision, f"b{self.batch}", self.target,
                                    f"@{self.device}" if self.device else None) if x)


@dataclass(frozen=True)
class Sweep:
    name: str
    configurations: tuple[Configuration, ...]
    spec: Optional[Path]
    deprecated: tuple[str, ...] = ()         # old spellings read, each with what to write instead


def _check_measure(where: str, raw: object, folder: Path, deprecated: list[str]) -> dict:
    """A `measure:` mapping as the command line's values (options.Option.read), old spellings renamed."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: `measure` must be a mapping of options, got {type(raw).__name__}")
    out = {}
    for key, value in raw.items():
        if key in RENAMED:
            new, values = RENAMED[key]
            if values is not None and (not isinstance(value, str) or value not in values):
                raise ConfigError(f"{where}: measure option {key} is one of {', '.join(values)}, got {value!r}")
            value = values[value] if values is not None else value
            note = f"{where}: measure option `{key}` is now `{new}`" + (f" ({new}: {str(value).lower()})" if values else "")
            deprecated.append(note + "; the old spelling will be refused in a later release")
            key = new
        if key not in FILE_KEYS:
            hint = " (a sweep's batches are its `batches` axis)" if key in BY_NAME else ""
            raise ConfigError(f"{where}: unknown measure option {key!r}{hint}; known: {', '.join(FILE_KEYS)}")
        out[key] = BY_NAME[key].read(value, where, folder)
    return out


MAX_CONFIGURATIONS = 10_000   # each one is a profile: more is a typo, and the matrix alone would take gigabytes
_LABEL = re.compile(r"[A-Za-z0-9._-]+")
DEFAULTS = {"backends": "ort-cpu", "precisions": "fp32", "batches": 1, "targets": None, "devices": None}


def _axis(data: dict, name: str, path: Path, deprecated: list[str]) -> list[tuple[Any, dict]]:
    raw = data.get(name)
    if raw is None:
        return [(DEFAULTS[name], {})]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path.name}: `{name}` must be a non-empty list")
    out = []
    for item in raw:
        options: dict = {}
        if isinstance(item, dict):
            extra = set(item) - {"name", "measure"}
            if "name" not in item or extra:
                raise ConfigError(f"{path.name}: an entry of `{name}` is a value or {{name: ..., measure: {{...}}}}, "
                                  f"got {item!r}")
            options = _check_measure(f"{path.name} {name}[{item['name']}]", item.get("measure"), path.parent, deprecated)
            item = item["name"]
        if name == "batches":
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise ConfigError(f"{path.name}: batches are positive integers, got {item!r}")
        elif not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{path.name}: `{name}` entries are names, got {item!r}")
        elif name == "devices" and (not _LABEL.fullmatch(item) or item in (".", "..")):
            # a fleet label names the folder its runs go in (OUT/LABEL/runs/KEY): never a path
            raise ConfigError(f"{path.name}: a device label is letters, digits, '.', '_' or '-', got {item!r}")
        out.append((item, options))
    return out


def _subject(path: Path, subject: str) -> str:
    """A preset name as is; a path (an export folder, an .onnx or a preset YAML) confined to the sweep file's
    folder, like every path a file names."""
    if "/" not in subject and "\\" not in subject and not (path.parent / subject).exists():
        return subject
    return str(confine(path.parent, subject, f"{path.name}: subject"))


def load_sweep(path: Path) -> Sweep:
    path = Path(path)
    data = parse_yaml(read_document(path, "sweep file"), f"{path} is not a readable YAML sweep (see `deployprof sweep --help`)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: a sweep is a mapping with subjects, backends, precisions, ... "
                          "(see `deployprof sweep --help`)")
    unknown = set(data) - {*AXES, "name", "measure", "spec"}
    if unknown:
        raise ConfigError(f"{path.name}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: name, "
                          f"{', '.join(AXES)}, measure, spec")
    if "subjects" not in data:
        raise ConfigError(f"{path.name}: `subjects` (presets or export folders) is required")
    deprecated: list[str] = []
    base = _check_measure(path.name, data.get("measure"), path.parent, deprecated)
    axes = {name: _axis(data, name, path, deprecated) for name in AXES}
    axes["subjects"] = [(_subject(path, s), options) for s, options in axes["subjects"]]
    axes["targets"] = [(t if t is None else target_named_in(path.parent, t, f"{path.name}: target"), options)
                       for t, options in axes["targets"]]
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_CONFIGURATIONS:
        raise ConfigError(f"{path.name}: the matrix has {size:,} configurations; a sweep runs at most "
                          f"{MAX_CONFIGURATIONS:,} (split it into several files)")
    configs = []
    for combo in itertools.product(*(axes[a] for a in AXES)):
        merged = dict(base)
        for _, options in combo:
            merged.update(options)
        values = {AXES[a]: v for a, (v, _) in zip(AXES, combo)}
        configs.append(Configuration(values["subject"], values["backend"], values["precision"], values["batch"],
                                     values["target"], values["device"], tuple(sorted(merged.items()))))
    spec = data.get("spec")
    if spec is not None and not isinstance(spec, str):
        raise ConfigError(f"{path.name}: `spec` is the path of a qualification spec (YAML)")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path.name}: `name` must be a non-empty string")
    keys = [c.key(name) for c in configs]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{path.name}: the matrix repeats a configuration; list each axis value once")
    return Sweep(name, tuple(configs), confine(path.parent, spec, f"{path.name}: spec") if spec else None,
                 tuple(dict.fromkeys(deprecated)))


def settings_of(cfg: Configuration) -> Settings:
    """The configuration's settings, built as `profile` builds them from its command line (config.Settings)."""
    given = dict(cfg.measure)
    o = {**defaults(), **given, "batch": str(cfg.batch)}
    if not {"duration", "iterations", "max_duration"} & set(given):
        o["max_duration"] = SWEEP_MAX_DURATION_S
    return Settings.from_options(o)


def _export_once(subject: str, exports: Path, settings: Settings, say: Say) -> str:
    """A preset exported once per machine and sweep folder (reused while complete), per exporter and task; a path as
    is."""
    if not is_preset(subject):
        return subject
    tag = "".join([f"-{settings.exporter}" if settings.exporter else "",
                   f"-{hashlib.sha256(settings.task.encode()).hexdigest()[:8]}" if settings.task else ""])
    folder = exports / (Path(subject).stem + tag)
    if (folder / "export" / "manifest.json").exists() and not (folder / RUN_MARKER).exists():
        return str(folder / "export")

    with run_folder(folder, SWEEP_EXPORT, subject, force=True):  # an interrupted export's files replaced
        return resolve_subject(subject, folder, settings.exporter, say, settings.task)


def run_configuration(cfg: Configuration, key: str, out: Path, spec: Optional[Path],
                      say: Say = log.info) -> dict:
    """Profile one configuration into OUT/runs/KEY (fresh each attempt); with a spec, qualify it. Returns what the
    launcher stores: the profile document, its environment, the verdict and why it is not PASS (judged here, once).
    Runs wherever it is called (a Ray worker)."""
    settings = settings_of(cfg)
    subject = _export_once(cfg.subject, out / "exports", settings, say)
    run_dir = out / "runs" / key
    plan = plan_profile(subject, [cfg.backend], settings, precisions=[cfg.precision], target_name=cfg.target,
                        with_fp32=False, say=say)
    report = profile(plan, run_dir, say=say, force=True)  # fresh each attempt: a failed one's files replaced
    doc = document(report)
    verdict, why = judge(cfg, doc, spec)
    return {"document": doc, "environment": to_dict(report.environment), "verdict": verdict, "why": why}


def judge(cfg: Configuration, doc: dict, spec: Optional[Path]) -> tuple[Optional[str], Optional[str]]:
    """The spec's verdict on a configuration's profile document, and why it is not PASS (the criteria that are
    not). Judged anew from the document each time, so a changed spec never reuses an old verdict."""
    if spec is None:
        return None, None

    s = load_spec(spec)
    target_name = cfg.target or s.target
    q = qualify_report(s, report_from_data(doc, "stored result"), spec.name, "",
                       load_target_profile(target_name) if target_name else None)
    why = "; ".join(f"{k.name}: {k.status}" + (f" ({k.detail})" if k.detail else "")
                    for c in q.configs for k in c.criteria if k.status != "PASS") or "; ".join(q.notes)
    return q.status, (why or None) if q.status != "PASS" else None


def validate(sweep: Sweep, local: bool) -> None:
    """The whole matrix checked before any work: each backend known (and usable here when run here), precision,
    target, subject, measurement options and spec. Each backend, target and preset is read once, however many
    configurations name it."""
    seen: set = set()
    for c in sweep.configurations:
        where = f"sweep configuration {c.label()}"
        try:
            if refusal(c.precision):
                raise ConfigError(refusal(c.precision))
            if ("backend", c.backend) not in seen:
                available = BACKENDS.get(c.backend).availability() if local else None
                if available is not None and not available.ok:
                    raise ConfigError(f"backend {c.backend} is unavailable here: {available.reason}")
            if c.target:   # read once per file (targets' cache); each precision checked on it
                load_target_profile(c.target).check([c.precision])
            if is_preset(c.subject) and ("preset", c.subject) not in seen:
                load_preset(c.subject)
            seen |= {("backend", c.backend), ("target", c.target), ("preset", c.subject)}
            settings_of(c)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except DeployprofError as exc:
            raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
    if sweep.spec is not None:
        load_spec(sweep.spec)


def _numbers(doc: dict, cfg: Configuration) -> dict:
    """p50/p99 and accuracy of the configuration's own main run in a profile document."""
    runs = [r for r in doc.get("runs", []) if r["backend"] == cfg.backend and r["precision"] == cfg.precision
            and r["batch"] == cfg.batch]
    stage = main_stage_of(r["stage"] for r in runs)
    main = [r for r in runs if r["stage"] == stage]
    if not main:
        return {}
    r = main[0]
    action = (r.get("accuracy") or {}).get("action") or {}
    env = doc.get("environment") or {}

    return dict(p50_ms=r["latency"]["p50_ms"], p99_ms=r["latency"]["p99_ms"], accuracy_rel_l2=action.get("rel_l2"),
                accuracy_cosine_min=action.get("cosine_min"), measured_on=device_name(env))


def _entry(cfg: Configuration, key: str, status: str, error: Optional[str] = None, result_id: Optional[int] = None,
           doc: Optional[dict] = None, judged: tuple[Optional[str], Optional[str]] = (None, None)) -> SweepEntry:
    """judged: the spec's verdict on `doc` and why it is not PASS (sweep.judge)."""
    nums = _numbers(doc, cfg) if doc else {}
    verdict, why = judged
    return SweepEntry(key=key, subject=cfg.subject, backend=cfg.backend, precision=cfg.precision, batch=cfg.batch,
                      target=cfg.target, device=cfg.device, status=status, error=error, result_id=result_id,
                      p50_ms=nums.get("p50_ms"), p99_ms=nums.get("p99_ms"), accuracy_rel_l2=nums.get("accuracy_rel_l2"),
                      accuracy_cosine_min=nums.get("accuracy_cosine_min"), verdict=verdict,
                      measured_on=nums.get("measured_on"), verdict_reason=why)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if isinstance(exc, DeployprofError) and text else f"{type(exc).__name__}: {text[0] if text else ''}")[:400]


def run_sweep(path: Path, out: Path, store_options, say: Say = log.info, plan: Callable[[int], None] = lambda n: None,
              ray_address: Optional[str] = None, force: bool = False, warn: Say = log.warning) -> SweepReport:
    """Run (or resume) a sweep. The store is the checkpoint: a configuration with a stored result is reused.
    say() announces each configuration with an ETA from those done; plan() is told how many will run."""
    sweep = checked_sweep(path, ray_address, warn)
    with run_folder(Path(out), SWEEP, path, force, say) as out:  # one sweep writes a folder at a time
        return _run(sweep, out, store_options, say, plan, ray_address)


def checked_sweep(path: Path, ray_address: Optional[str] = None, warn: Say = log.warning) -> Sweep:
    """The sweep file read and its whole matrix validated, before any work (`sweep --dry-run` stops here); warn() is
    told each old spelling the file uses."""
    sweep = load_sweep(path)
    for line in sweep.deprecated:
        warn(line)
    if any(c.device for c in sweep.configurations) and not ray_address:
        raise ConfigError(f"{Path(path).name} names fleet devices: dispatch it with --ray ADDRESS, or drop "
                          "`devices:` to run every configuration on this machine")
    if ray_address and not any(c.device for c in sweep.configurations):
        raise ConfigError("--ray dispatches by device label: list them under `devices:` in the sweep")
    if sweep.spec is not None and not sweep.spec.exists():
        raise ConfigError(f"{Path(path).name}: spec {sweep.spec} not found")
    validate(sweep, local=not ray_address)
    return sweep


def _run(sweep: Sweep, out: Path, store_options, say: Say, plan: Callable[[int], None],
         ray_address: Optional[str]) -> SweepReport:
    # the spec is part of what a configuration's verdict means: a changed spec measures and judges afresh
    spec_id = hashlib.sha256(sweep.spec.read_bytes()).hexdigest()[:16] if sweep.spec is not None else None
    keys = {c: c.key(sweep.name, spec_id) for c in sweep.configurations}
    store = Store(store_options.url)  # the checkpoint: required, unlike a single command's copy
    try:
        entries = _reused(sweep, keys, store)
        todo = [c for c in sweep.configurations if keys[c] not in entries]
        log.info("sweep %s: %d configurations, %d already in the store, %d to run", sweep.name,
                 len(sweep.configurations), len(entries), len(todo))
        plan(len(todo))
        started, reused = time.monotonic(), len(entries)

        def eta() -> str:
            finished = len(entries) - reused
            left = len(todo) - finished
            return f" (ETA {_duration((time.monotonic() - started) / finished * left)})" if finished and left else ""

        def on_result(c: Configuration, result: Optional[dict], error: Optional[BaseException],
                      node: Optional[str] = None) -> None:
            entries[keys[c]] = dataclasses.replace(_record(c, keys[c], result, error, store, store_options.commit,
                                                           say), node=node)
            if ray_address:
                say(f"{c.label()}: {entries[keys[c]].status}{eta()}")

        if ray_address:
            dispatch(todo, keys, out, sweep.spec, ray_address, on_result, say, run_configuration)
        else:
            for c in todo:
                say(f"{c.label()}{eta()}")
                try:
                    result = run_configuration(c, keys[c], out, sweep.spec, say=lambda m: log.info(m))
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # one configuration failing is recorded; the sweep goes on
                    on_result(c, None, exc)
                else:
                    on_result(c, result, None)
    finally:
        store.close()
    report = SweepReport(sweep.name, datetime.now(timezone.utc).isoformat(timespec="seconds"), redact(store_options.url),
                         tuple(entries[keys[c]] for c in sweep.configurations))
    write_sweep(report, out)
    return report


def _reused(sweep: Sweep, keys: dict[Configuration, str], store: Store) -> dict[str, SweepEntry]:
    """The configurations already in the store (the checkpoint), each judged against this sweep's spec."""
    done, entries = store.finished(keys.values()), {}
    for c in sweep.configurations:
        if keys[c] in done:
            doc = store.document(done[keys[c]])
            entries[keys[c]] = _entry(c, keys[c], "reused", result_id=done[keys[c]], doc=doc,
                                      judged=judge(c, doc, sweep.spec))
    return entries


def _record(c: Configuration, key: str, result: Optional[dict], error: Optional[BaseException], store: Store,
            commit: Optional[str], say: Say) -> SweepEntry:
    """A finished configuration's entry: failed with its reason, or done and stored (a store that cannot take it
    is a warning: the run goes in sweep.json all the same, and a rerun measures it again)."""
    if error is not None:
        say(f"warning: {c.label()} failed: {_why(error)}")
        return _entry(c, key, "failed", _why(error))
    try:
        rid = store.add(result["document"], environment=result["environment"], commit=commit, sweep_key=key,
                        verdict=result["verdict"])
    except Exception as exc:  # a full or vanished store
        rid = None
        say(f"warning: {c.label()}: measured, but not stored ({_why(exc)}); a rerun measures it again")
    return _entry(c, key, "done", result_id=rid, doc=result["document"], judged=(result["verdict"], result["why"]))


def _duration(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def write_sweep(report: SweepReport, out: Path) -> None:
    write_json_atomic(out / "sweep.json", document(report))
    write_text_atomic(out / "sweep.html", render_sweep_html(report))
