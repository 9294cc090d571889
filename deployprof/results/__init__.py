"""Frozen result records, one module per domain; every name is re-exported here, so `from deployprof.results
import X` is the one way in. Units live in field names; JSON round-trips exactly (floats via repr)."""
from .runs import (KEPT_SAMPLES, POLICY_STEP, ColdStart, ControlLoopStats, LatencyStats, LayerTime, MachineLoad, MeasuredDevice, Repeats,
                   MemoryStats, RunResult, Stop, TelemetryStats, TransferTimes, Witness, main_runs, main_stage,
                   main_stage_of, run_flags, stop_of, thin_samples)
from .build import BuildInfo, EngineProvenance
from .breakdown import OVERHEAD_FACTOR, Bound, Breakdown, Ceilings, ComponentTime, NodeTime
from .static import (FlopReport, FlopSummary, MemoryNeed, NodeCost, OpTypeCost, Prediction, RooflinePrediction,
                     RooflineStage)
from .accuracy import AccuracyReport, AccuracyResult, OutputError
from .machine import DeviceCheck, Environment, ModelInfo, SelfCheck
from .training import TrainResult
from .qualify import ConfigVerdict, Criterion, Qualification
from .compare import Comparison, Interleaved, MetricDelta, Regression, RunDelta
from .precision_debug import Confirmation, Evaluation, PrecisionDebugReport, Sensitivity
from .history import History, HistoryRow, SweepEntry, SweepReport
from .documents import (BenchResult, DOCUMENTS, MAX_REPORT_BYTES, ProfileReport, SCHEMA_VERSION, document,
                        document_def, json_schema, report_from_data)

__all__ = ["Confirmation", "Interleaved", "MachineLoad", "Repeats", "AccuracyReport", "AccuracyResult", "BenchResult", "Bound", "Breakdown", "BuildInfo", "Ceilings", "ColdStart", "Comparison", "ComponentTime", "ConfigVerdict",
           "ControlLoopStats", "Criterion", "DOCUMENTS", "DeviceCheck", "EngineProvenance", "Environment", "Evaluation",
           "FlopReport", "FlopSummary", "History", "HistoryRow", "KEPT_SAMPLES", "LatencyStats", "LayerTime",
           "MAX_REPORT_BYTES", "MeasuredDevice", "MemoryNeed", "MemoryStats", "MetricDelta", "ModelInfo", "NodeCost", "NodeTime", "OVERHEAD_FACTOR",
           "OpTypeCost", "OutputError", "POLICY_STEP", "PrecisionDebugReport", "Prediction", "ProfileReport", "Qualification", "Regression",
           "RooflinePrediction", "RooflineStage", "RunDelta", "RunResult", "SCHEMA_VERSION", "SelfCheck", "Sensitivity", "Stop",
           "SweepEntry", "SweepReport", "TelemetryStats", "TrainResult", "TransferTimes", "Witness", "document",
           "document_def", "json_schema", "main_runs", "main_stage", "main_stage_of", "report_from_data", "run_flags", "stop_of",
           "thin_samples"]
