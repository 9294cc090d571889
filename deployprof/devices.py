"""NVIDIA device facts through NVML (nvidia-ml-py, lazily imported), with /proc as a fallback probe."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def _nvml():
    try:
        import pynvml  # provided by nvidia-ml-py
        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def cuda_device_count() -> int:
    nv = _nvml()
    if nv is not None:
        try:
            return int(nv.nvmlDeviceGetCount())
        except Exception:
            pass
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def gpu_names() -> tuple[list[str], Optional[str]]:
    nv = _nvml()
    if nv is None:
        return [], None
    try:
        names = []
        for i in range(nv.nvmlDeviceGetCount()):
            name = nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
        drv = nv.nvmlSystemGetDriverVersion()
        return names, drv.decode() if isinstance(drv, bytes) else drv
    except Exception:
        return [], None


def process_device_memory(device_index: int = 0, pid: Optional[int] = None) -> Optional[int]:
    """Bytes of device memory NVML attributes to this process; None where NVML cannot say (Jetson, containers)."""
    nv = _nvml()
    if nv is None:
        return None
    pid = pid or os.getpid()
    try:
        handle = nv.nvmlDeviceGetHandleByIndex(device_index)
        procs = list(nv.nvmlDeviceGetComputeRunningProcesses(handle))
        for p in procs:
            if p.pid == pid and p.usedGpuMemory is not None:
                return int(p.usedGpuMemory)
    except Exception:
        return None
    return None


def device_used_memory(device_index: int = 0) -> Optional[int]:
    """Device-wide used bytes (NVML); used where per-process accounting is unavailable."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        return int(nv.nvmlDeviceGetMemoryInfo(nv.nvmlDeviceGetHandleByIndex(device_index)).used)
    except Exception:
        return None


def cuda_used_bytes(device_index: int = 0) -> Optional[int]:
    """Device-wide used bytes from cudaMemGetInfo (total - free), via cuda-bindings, else torch if already
    loaded. Creates the CUDA context if none exists, so call it only in processes that use the GPU anyway."""
    try:
        from cuda.bindings import runtime as cudart

        err, = cudart.cudaSetDevice(device_index)
        err2, free, total = cudart.cudaMemGetInfo()
        if int(err) == 0 and int(err2) == 0:
            return int(total - free)
    except Exception:
        pass
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            free, total = torch.cuda.mem_get_info(device_index)
            return int(total - free)
        except Exception:
            return None
    return None


def is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists()


def unified_memory_used_bytes() -> Optional[int]:
    """Jetson: the GPU shares system RAM, so 'device memory' is MemTotal - MemAvailable (system-wide)."""
    try:
        info = {}
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0]) * 1024
        return info["MemTotal"] - info["MemAvailable"]
    except (OSError, KeyError, ValueError):
        return None


def device_used(device_index: int = 0) -> tuple[Optional[int], str]:
    """(used bytes, how it was read): MemAvailable on Jetson's unified memory, cudaMemGetInfo elsewhere."""
    if is_jetson():
        return unified_memory_used_bytes(), "MemTotal-MemAvailable (Jetson unified memory, system-wide)"
    return cuda_used_bytes(device_index), "cudaMemGetInfo total-free (device-wide)"


def gpu_state(device_index: int = 0) -> Optional[dict]:
    """What state the GPU is in now (clocks, power, temperature, performance state, throttle reasons), so that two
    measurements from different days can be told apart; None without NVML."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        h = nv.nvmlDeviceGetHandleByIndex(device_index)
        return {"sm_mhz": int(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
                "mem_mhz": int(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
                "power_w": nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
                "temperature_c": int(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                "pstate": int(nv.nvmlDeviceGetPerformanceState(h)),
                "throttle_reasons": int(nv.nvmlDeviceGetCurrentClocksThrottleReasons(h))}
    except Exception:  # an older driver lacks one of the queries: no state rather than a wrong one
        return None
