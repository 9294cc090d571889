"""What the numbers were measured on. Package versions come from metadata: nothing heavy is imported."""
from __future__ import annotations

import os
import platform
from importlib import metadata

from . import __version__
from .devices import gpu_state, gpu_names, is_jetson
from .results import Environment

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
        from .measure.telemetry import jetson_power_state

        mode, locked = jetson_power_state()
        jetson = dict(jetson_model=_read("/proc/device-tree/model"), l4t_release=_read("/etc/nv_tegra_release"),
                      power_mode=mode, clocks_locked=locked)
    return Environment(
        deployprof_version=__version__, python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}", cpu_model=_cpu_model(),
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        packages={p: _version(p) for p in PACKAGES}, gpus=tuple(names), driver_version=driver,
        gpu_state=gpu_state() if names else None, **jetson)
