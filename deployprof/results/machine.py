"""The machine: environment, device checks, the model measured."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class DeviceCheck:
    name: str                       # what was measured
    measured: float
    reference: Optional[float]      # the datasheet's figure (None: no datasheet applies)
    unit: str
    at_spec: Optional[bool]         # measured >= doctor.AT_SPEC x reference; None without a reference
    method: str


@dataclass(frozen=True)
class SelfCheck:
    """The device's measured ceilings against its target profile (`doctor`; `profile --target T` on the device)."""
    device: str
    target: Optional[str]
    power_mode: Optional[str]
    clocks_locked: Optional[bool]
    checks: tuple[DeviceCheck, ...]
    at_spec: Optional[bool]         # every check with a reference at spec; None when nothing had a reference
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    deployprof_version: str
    python: str
    platform: str
    cpu_model: str
    cpu_count: int
    packages: dict[str, Optional[str]]
    gpus: tuple[str, ...] = ()
    driver_version: Optional[str] = None
    jetson_model: Optional[str] = None       # /proc/device-tree/model
    l4t_release: Optional[str] = None        # /etc/nv_tegra_release (JetPack's Linux for Tegra)
    power_mode: Optional[str] = None         # nvpmodel -q
    clocks_locked: Optional[bool] = None     # jetson_clocks --show
    gpu_state: Optional[dict[str, float]] = None  # NVML clocks, power, temperature, P-state when captured
    self_check: Optional[SelfCheck] = None   # `doctor` run as profile --target T's first step, on that device


@dataclass(frozen=True)
class ModelInfo:
    source: str
    preset: Optional[str]
    family: Optional[str]
    stages: tuple[str, ...]
    stage_sha256: dict[str, str]
    calls_per_step: dict[str, int]
    exporter: Optional[str] = None
