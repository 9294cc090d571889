"""Qualification specs (YAML), validated field by field so that a typo is one clear error, never a criterion
silently dropped. The smallest useful spec is one line: `latency_ms: {p99: 50}`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError
from ..files import parse_yaml, read_document
from ..precision_names import PRECISIONS, REFUSED, refusal
from ..targets import target_named_in
from ..backends import BACKENDS

PERCENTILE_KEYS = ("p50", "p90", "p95", "p99", "p999")
EXAMPLE = """latency_ms: {p99: 50}                      # p99 of a policy step within 50 ms
control: {rate_hz: 10, chunk: 8}            # or: the next chunk ready before the current one ends (p99 by default)
deadline_miss_rate: 0.01                    # at most 1% missed ticks (needs a --rate run)
memory: {host_peak_mib: 4000, device_peak_mib: 8000, headroom_pct: 30}
accuracy: {min_cosine: 0.99, max_abs_error: 0.05}   # or one limit per action dimension: [0.01, 0.01, 0.02, ...]
backends: [trt, ort-cuda]
precisions: [fp16, fp32]
batch: 1
target: jetson-agx-orin-64gb                # for predictions and memory headroom"""


@dataclass(frozen=True)
class Spec:
    latency_ms: dict[str, float] = field(default_factory=dict)
    control_rate_hz: Optional[float] = None
    control_chunk: int = 1
    control_percentile: str = "p99"
    deadline_miss_rate: Optional[float] = None
    host_peak_mib: Optional[float] = None
    device_peak_mib: Optional[float] = None
    headroom_pct: Optional[float] = None
    min_cosine: Optional[float] = None
    max_abs_error: Optional[float] = None
    max_abs_error_per_dim: tuple[float, ...] = ()   # one limit per action dimension, robot units (a list in the spec)
    backends: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    batch: Optional[int] = None
    target: Optional[str] = None

    @property
    def control_budget_ms(self) -> Optional[float]:
        """A chunk of `chunk` actions played at `rate_hz` lasts chunk / rate_hz: the next one must be ready by then."""
        return 1000.0 * self.control_chunk / self.control_rate_hz if self.control_rate_hz else None

    def criteria_count(self) -> int:
        return (len(self.latency_ms) + (self.control_rate_hz is not None) + (self.deadline_miss_rate is not None)
                + sum(v is not None for v in (self.host_peak_mib, self.device_peak_mib, self.headroom_pct,
                                               self.min_cosine, self.max_abs_error))
                + len(self.max_abs_error_per_dim))


MAX_DIMS = 4096   # limits per action dimension a spec may give (a list longer is refused as a number would be)


def _number(where: str, value: Any, lo: float = 0.0, hi: Optional[float] = None, integer: bool = False) -> float:
    try:  # a 400-digit integer is an int, but no float: too large for any limit
        ok = (isinstance(value, int) if integer else isinstance(value, (int, float))) and math.isfinite(float(value))
    except OverflowError:
        ok = False
    if isinstance(value, bool) or not ok or value <= lo or (hi is not None and value > hi):
        kind = "an integer" if integer else "a number"
        bound = f" in ({lo:g}, {hi:g}]" if hi is not None else f" > {lo:g}"
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:30] + f"... ({len(repr(value))} characters)"
        raise ConfigError(f"spec: {where} must be {kind}{bound}, got {shown}")
    return value


def _mapping(where: str, value: Any, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"spec: {where} must be a mapping with some of {', '.join(keys)}, got {value!r}")
    bad = sorted(set(map(str, value)) - set(keys))
    if bad:
        raise ConfigError(f"spec: {where} has unknown key(s) {', '.join(bad)}; expected {', '.join(keys)}")
    return value


def _names(where: str, value: Any, known: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise ConfigError(f"spec: {where} must be a list of names, got {value!r}")
    bad = [v for v in value if v not in known]
    if bad:
        raise ConfigError(f"spec: {where}: unknown {', '.join(bad)}; known: {', '.join(known)}")
    return tuple(value)


def parse_spec(data: Any) -> Spec:
    top = ("latency_ms", "control", "deadline_miss_rate", "memory", "accuracy", "backends", "precisions", "batch", "target")
    if not isinstance(data, dict):
        raise ConfigError(f"spec must be a YAML mapping, e.g. `latency_ms: {{p99: 50}}`; got {type(data).__name__}")
    if not data:
        raise ConfigError("spec has no criterion; the smallest spec is one line: `latency_ms: {p99: 50}`")
    d = _mapping("the top level", data, top)
    kw: dict[str, Any] = {}
    if "latency_ms" in d:
        lat = _mapping("latency_ms", d["latency_ms"], PERCENTILE_KEYS)
        kw["latency_ms"] = {k: float(_number(f"latency_ms.{k}", v)) for k, v in lat.items()}
    if "control" in d:
        c = _mapping("control", d["control"], ("rate_hz", "chunk", "percentile"))
        if "rate_hz" not in c:
            raise ConfigError("spec: control needs rate_hz (and optionally chunk, percentile)")
        kw["control_rate_hz"] = float(_number("control.rate_hz", c["rate_hz"]))
        kw["control_chunk"] = int(_number("control.chunk", c.get("chunk", 1), integer=True))
        pct = c.get("percentile", "p99")
        if pct not in PERCENTILE_KEYS:
            raise ConfigError(f"spec: control.percentile must be one of {', '.join(PERCENTILE_KEYS)}, got {pct!r}")
        kw["control_percentile"] = pct
    if "deadline_miss_rate" in d:
        v = d["deadline_miss_rate"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ConfigError(f"spec: deadline_miss_rate must be a fraction in [0, 1), got {v!r}")
        kw["deadline_miss_rate"] = float(v)
    if "memory" in d:
        m = _mapping("memory", d["memory"], ("host_peak_mib", "device_peak_mib", "headroom_pct"))
        for k in ("host_peak_mib", "device_peak_mib"):
            if k in m:
                kw[k] = float(_number(f"memory.{k}", m[k]))
        if "headroom_pct" in m:
            kw["headroom_pct"] = float(_number("memory.headroom_pct", m["headroom_pct"], hi=100))
    if "accuracy" in d:
        a = _mapping("accuracy", d["accuracy"], ("min_cosine", "max_abs_error"))
        if "min_cosine" in a:
            kw["min_cosine"] = float(_number("accuracy.min_cosine", a["min_cosine"], lo=-1.0, hi=1.0))
        if isinstance(a.get("max_abs_error"), list) and 0 < len(a["max_abs_error"]) <= MAX_DIMS:   # per dimension
            kw["max_abs_error_per_dim"] = tuple(float(_number(f"accuracy.max_abs_error[{i}]", v))
                                                for i, v in enumerate(a["max_abs_error"]))
        elif "max_abs_error" in a:
            kw["max_abs_error"] = float(_number("accuracy.max_abs_error", a["max_abs_error"]))
    if "backends" in d:
        kw["backends"] = _names("backends", d["backends"], tuple(BACKENDS))
    if "precisions" in d:
        for p in d["precisions"] if isinstance(d["precisions"], list) else [d["precisions"]]:
            if isinstance(p, str) and p in REFUSED:
                raise ConfigError(f"spec: precisions: {refusal(p)}")
        kw["precisions"] = _names("precisions", d["precisions"], tuple(PRECISIONS))
    if "batch" in d:
        kw["batch"] = int(_number("batch", d["batch"], integer=True))
    if "target" in d:
        if not isinstance(d["target"], str):
            raise ConfigError(f"spec: target must be a target name or YAML path, got {d['target']!r}")
        kw["target"] = d["target"]
    spec = Spec(**kw)
    if spec.criteria_count() == 0:
        raise ConfigError("spec has no criterion; the smallest spec is one line: `latency_ms: {p99: 50}`")
    return spec


def load_spec(path: Path) -> Spec:
    path = Path(path)
    data = parse_yaml(read_document(path, "spec"), str(path))
    try:
        spec = parse_spec(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if spec.target:
        from dataclasses import replace

        spec = replace(spec, target=target_named_in(path.parent, spec.target, f"{path.name}: target"))
    return spec
