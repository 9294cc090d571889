"""The documents every --json prints and report.json: envelope, schema, reading (schema 1 upgraded)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ..bands import verdict
from ..config import MeasureConfig
from ..errors import ConfigError, ModelError
from ..files import ensure_complete, parse_json, read_document, write_json_atomic
from ..serial import define, from_dict, to_dict
from .accuracy import AccuracyReport, OutputError
from .compare import Comparison
from .history import History, SweepReport
from .machine import Environment, ModelInfo, SelfCheck
from .precision_debug import PrecisionDebugReport
from .qualify import Qualification
from .runs import KEPT_SAMPLES, RunResult, main_stage_of, thin_samples
from .static import FlopReport, FlopSummary, Prediction, RooflinePrediction
from .training import TrainResult


SCHEMA_VERSION = 3  # 2: one envelope (schema_version, kind) for every --json; RunResult.stage; settings = MeasureConfig
# 3: settings.backend_options.device (cpu | cuda | cuda:N) replaces device_id and torch_device


@dataclass(frozen=True)
class ProfileReport:
    """report.json: what `profile` and `train-bench` measured, with the model, machine and settings behind it."""
    created_utc: str
    model: ModelInfo
    environment: Environment
    settings: Optional[MeasureConfig]          # None for a training report (its settings are in `training`)
    flops: dict[str, FlopReport]
    policy_step_flops: Optional[int]
    runs: tuple[RunResult, ...]
    warnings: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()             # what bounds each configuration (findings.py), shown first
    precision_info: dict[str, dict] = field(default_factory=dict)
    roofline: tuple[RooflinePrediction, ...] = ()
    training: tuple[TrainResult, ...] = ()
    precision_debug: tuple[PrecisionDebugReport, ...] = ()  # the search behind each mixed precision measured
    interleaved: tuple[Comparison, ...] = ()  # profile --interleave: each precision against FP32, alternating blocks

    def write(self, path: Path) -> None:
        write_json_atomic(path, document(self))

    @classmethod
    def read(cls, path: Path) -> "ProfileReport":
        return _read_report(path)


@dataclass(frozen=True)
class BenchResult:
    """`bench --json`: one backend at one precision on an ONNX file or export folder, every run."""
    subject: str
    backend: str
    precision: str
    settings: MeasureConfig
    runs: tuple[RunResult, ...]
    warnings: tuple[str, ...] = ()   # as a profile's: skipped modes, noisy or capped runs, contradictions between runs


# Every --json output and report.json is one of these, under {"schema_version": SCHEMA_VERSION, "kind": KIND}.
DOCUMENTS: dict[str, type] = {"profile": ProfileReport, "bench": BenchResult, "flops": FlopSummary,
                              "accuracy": AccuracyReport, "comparison": Comparison, "prediction": Prediction,
                              "qualification": Qualification, "history": History, "sweep": SweepReport,
                              "selfcheck": SelfCheck, "precision-debug": PrecisionDebugReport}


_KINDS = {cls: kind for kind, cls in DOCUMENTS.items()}


def document(obj) -> dict:
    """The one JSON form of a command's result."""
    return {"schema_version": SCHEMA_VERSION, "kind": _KINDS[type(obj)], **to_dict(obj)}


def document_def(kind: str) -> str:
    """The $defs entry of a document kind: the class's own name, or NameDocument when the class also nests inside
    another document (there without the envelope, e.g. a SelfCheck in a report's environment)."""
    return _document_defs()[kind]


def _document_defs() -> dict[str, str]:
    defs: dict = {}
    for cls in DOCUMENTS.values():
        define(cls, defs)
    text = json.dumps(defs)
    return {kind: cls.__name__ + ("Document" if f'"#/$defs/{cls.__name__}"' in text else "")
            for kind, cls in DOCUMENTS.items()}


def json_schema() -> dict:
    """JSON Schema (2020-12) of every document, derived from the dataclasses above: docs/schema.json is this."""
    defs: dict = {}
    for cls in DOCUMENTS.values():
        define(cls, defs)
    names = _document_defs()
    for kind, cls in DOCUMENTS.items():
        body = defs[cls.__name__]
        defs[names[kind]] = {**body, "properties": {"schema_version": {"const": SCHEMA_VERSION}, "kind": {"const": kind},
                                                    **body["properties"]},
                             "required": ["schema_version", "kind", *body["required"]]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://deployprof.dev/schema/v{SCHEMA_VERSION}.json",
            "title": f"deployprof output, schema_version {SCHEMA_VERSION}",
            "description": "report.json and every command's --json: an object with schema_version and kind.",
            "oneOf": [{"$ref": f"#/$defs/{names[kind]}"} for kind in DOCUMENTS], "$defs": defs}


def _upgrade_v2(data: dict) -> dict:
    """Schema 2 reports held the device twice: device_id (the GPU backends') and torch_device (torch's)."""
    settings = data.get("settings")
    options = settings.get("backend_options") if isinstance(settings, dict) else None
    if not isinstance(options, dict) or "device" in options:
        return data
    torch_device, gpu = options.get("torch_device", "cpu"), options.get("device_id", 0)
    device = torch_device if torch_device != "cpu" else f"cuda:{gpu}" if gpu else None
    return dict(data, settings=dict(settings, backend_options={**options, "device": device}))


def _upgrade_v1(data: dict) -> dict:
    """Schema 1 reports: runs named their stage `target`; settings were a smaller record with `in_process`; accuracy
    was one list by precision, always measured on ort-cpu (so it belongs to the ort-cpu rows only)."""
    data = dict(data, kind="profile")
    runs = [{("stage" if k == "target" else k): v for k, v in r.items()} for r in data.get("runs", [])]
    main = main_stage_of(r["stage"] for r in runs)
    smallest = min((r["batch"] for r in runs), default=1)  # v1 measured accuracy at batch 1: one row per precision
    for a in data.pop("accuracy", []):
        a.pop("passed", None)
        a["reference"] = f"{a['backend']}:{a.pop('reference_precision', 'fp32')}"
        a["verdict"], rule = verdict(from_dict(OutputError, a["action"]), a.get("atol"), a.get("min_cosine"))
        a["rule"] = f"{rule} (schema-1 report: measured on {a['backend']} at batch 1)"
        for r in runs:
            if (r["stage"], r["backend"], r["precision"], r["batch"]) == (main, a["backend"], a["precision"], smallest):
                r["accuracy"] = {**a, "batch": 1}
    data["runs"] = runs
    old = data.get("settings") or {}
    if old.get("batches") and not data.get("training"):
        keep = ("warmup_iterations", "warmup_min_s", "iterations", "duration_s", "batches", "seed", "concurrency", "rate_hz")
        data["settings"] = {**{k: old[k] for k in keep if k in old},
                            "launcher": "inline" if old.get("in_process") else "process"}
    else:
        data["settings"] = None
    return data


MAX_REPORT_BYTES = 512 << 20  # reports before samples were thinned (KEPT_SAMPLES) could reach 200 MB


def _read_report(path: Path) -> ProfileReport:
    """report.json of this schema or of schema 1 (upgraded in memory); anything else is one clear error."""
    path = Path(path)
    ensure_complete(path.parent)
    text = read_document(path, "report", ModelError, max_bytes=MAX_REPORT_BYTES)
    return report_from_data(parse_json(text, f"{path} (a report; re-run `deployprof profile`)"), str(path))


def report_from_data(data: object, origin: str) -> ProfileReport:
    """A profile document (from a file or the results store) of this schema or of schema 1."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version == 1:
        data = _upgrade_v1(data)
    elif version == 2:
        data = _upgrade_v2(data)
    if not isinstance(data, dict) or version not in (1, 2, SCHEMA_VERSION) or data.get("kind") != "profile":
        found = (version, data.get("kind")) if isinstance(data, dict) else type(data).__name__
        raise ModelError(f"{origin} is not a deployprof report of schema_version 1 to {SCHEMA_VERSION} (found {found!r}); "
                         "pass a report.json made by `deployprof profile`")
    try:
        report = from_dict(ProfileReport, data, "report")
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
        raise ModelError(f"{origin} is not a complete deployprof report ({type(exc).__name__}: {exc}); "
                         "re-run `deployprof profile`") from None
    for i, r in enumerate(report.runs):
        for lat in (r.latency, r.device_latency):
            if lat is not None:
                lat.check(f"{origin}: runs[{i}] ({r.stage}, {r.backend} {r.precision})")
    if any(len(r.latency.samples_ms) > KEPT_SAMPLES for r in report.runs):  # written before samples were thinned
        report = replace(report, runs=tuple(replace(r, latency=replace(r.latency, samples_ms=thin_samples(r.latency.samples_ms)))
                                            for r in report.runs))
    return report
