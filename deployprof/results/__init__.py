"""Frozen result records, one module per domain; every name is re-exported here, so `from deployprof.results
import X` is the one way in. Units live in field names; JSON round-trips exactly (floats via repr).

The re-exports are lazy (PEP 562): `from deployprof.results import RunResult` loads results/runs.py alone, so a
command loads the records it uses (all 43 dataclasses take ~60 ms to create; `--help` and most commands need few)."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_MODULES = {
    "runs": ("ColdStart", "ControlLoopStats", "KEPT_SAMPLES", "LatencyStats", "LayerTime", "MachineLoad",
             "MeasuredDevice", "MemoryStats", "POLICY_STEP", "Repeats", "RunResult", "Stop", "TelemetryStats",
             "TransferTimes", "Witness", "main_runs", "main_stage", "main_stage_of", "run_flags", "stop_of",
             "thin_samples"),
    "build": ("BuildInfo", "EngineProvenance"),
    "breakdown": ("Bound", "Breakdown", "Ceilings", "ComponentTime", "NodeTime", "OVERHEAD_FACTOR"),
    "static": ("FlopReport", "FlopSummary", "MemoryNeed", "NodeCost", "OpTypeCost", "Prediction",
               "RooflinePrediction", "RooflineStage"),
    "accuracy": ("AccuracyReport", "AccuracyResult", "OutputError"),
    "machine": ("DeviceCheck", "Environment", "ModelInfo", "SelfCheck"),
    "training": ("EAGER_MFU_MAX", "TrainResult"),
    "qualify": ("ConfigVerdict", "Criterion", "Qualification"),
    "compare": ("Comparison", "Interleaved", "MetricDelta", "Regression", "RunDelta"),
    "precision_debug": ("Confirmation", "Evaluation", "PrecisionDebugReport", "Sensitivity"),
    "history": ("History", "HistoryRow", "SweepEntry", "SweepReport"),
    "documents": ("BenchResult", "DOCUMENTS", "MAX_REPORT_BYTES", "ProfileReport", "SCHEMA_VERSION", "document",
                  "document_def", "json_schema", "report_from_data"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value   # once: later lookups do not come here
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:   # what type checkers and editors see; nothing is imported at run time
    from .runs import (KEPT_SAMPLES, POLICY_STEP, ColdStart, ControlLoopStats, LatencyStats, LayerTime, MachineLoad, MeasuredDevice, Repeats,
                       MemoryStats, RunResult, Stop, TelemetryStats, TransferTimes, Witness, main_runs, main_stage,
                       main_stage_of, run_flags, stop_of, thin_samples)
    from .build import BuildInfo, EngineProvenance
    from .breakdown import OVERHEAD_FACTOR, Bound, Breakdown, Ceilings, ComponentTime, NodeTime
    from .static import (FlopReport, FlopSummary, MemoryNeed, NodeCost, OpTypeCost, Prediction, RooflinePrediction,
                         RooflineStage)
    from .accuracy import AccuracyReport, AccuracyResult, OutputError
    from .machine import DeviceCheck, Environment, ModelInfo, SelfCheck
    from .training import EAGER_MFU_MAX, TrainResult
    from .qualify import ConfigVerdict, Criterion, Qualification
    from .compare import Comparison, Interleaved, MetricDelta, Regression, RunDelta
    from .precision_debug import Confirmation, Evaluation, PrecisionDebugReport, Sensitivity
    from .history import History, HistoryRow, SweepEntry, SweepReport
    from .documents import (BenchResult, DOCUMENTS, MAX_REPORT_BYTES, ProfileReport, SCHEMA_VERSION, document,
                            document_def, json_schema, report_from_data)
