"""What the numbers were measured on. Package versions come from metadata: nothing heavy is imported."""
from __future__ import annotations

import dataclasses
import os
import platform
from importlib import metadata

from . import __version__
from .devices import gpu_state, gpu_names, is_jetson
from .results import Environment, MeasuredDevice, RunResult
from .measure.telemetry import jetson_power_state

PACKAGES = ("onnx", "onnxruntime", "onnxruntime-gpu", "torch", "numpy", "tensorrt", "cuda-bindings", "pycuda", "nvidia-ml-py",
            "jetson-stats")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _read(path: str):
    try:
        text = open(path, errors="replace").read().replace("\x00", "").strip()
    except OSError:
        return None
    return text.splitlines()[0] if text else None


def capture() -> Environment:
    names, driver = gpu_names()
    jetson = {}
    if is_jetson():
        mode, locked = jetson_power_state()
        jetson = dict(jetson_model=_read("/proc/device-tree/model"), l4t_release=_read("/etc/nv_tegra_release"),
                      power_mode=mode, clocks_locked=locked)
    return Environment(
        deployprof_version=__version__, python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}", cpu_model=_cpu_model(),
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        packages={p: _version(p) for p in PACKAGES}, gpus=tuple(names), driver_version=driver,
        gpu_state=gpu_state() if names else None, **jetson)


def measured_device(run: RunResult, env: Environment) -> MeasuredDevice:
    """The device a run used, as recorded; for older reports, derived from the environment and the run's device
    string: on a Jetson the board (CPU or GPU alike: its memory, its clocks), else the GPU of `cuda:N`, else the CPU."""
    if run.measured_on is not None:
        return run.measured_on
    if env.jetson_model:
        return MeasuredDevice("jetson", env.jetson_model)
    device = run.build.device
    if device.startswith("cuda"):
        if "(" in device:  # "cuda:0 (NVIDIA H100 80GB HBM3)"
            return MeasuredDevice("gpu", device[device.index("(") + 1:].rstrip(")"))
        index = int(device.split(":")[1].split()[0]) if ":" in device else 0
        return MeasuredDevice("gpu", env.gpus[index] if index < len(env.gpus) else device)
    return MeasuredDevice("cpu", env.cpu_model)


def with_devices(runs, env: Environment) -> tuple[RunResult, ...]:
    """Every run with the device it was measured on recorded (what qualification and the roofline judge by)."""
    return tuple(dataclasses.replace(r, measured_on=measured_device(r, env)) for r in runs)


def device_text(d: MeasuredDevice) -> str:
    return f"{d.name} ({d.kind})"
