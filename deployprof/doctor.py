"""`deployprof doctor`: is this machine performing to spec before a policy is judged on it? A short GEMM and copy
benchmark on the device (GPU: FP16 and TF32/FP32 GEMM, device-memory copy; CPU: FP32 GEMM and copy), set beside
the target profile's datasheet figures; on a Jetson with the power mode and clock lock read. Below AT_SPEC of the
datasheet (a healthy H100 reaches about 80% of its dense BF16 peak in a plain GEMM) the board is reported as not
at spec: power mode, unlocked clocks, thermal throttling or another tenant. A CPU has no datasheet: its measured
ceiling is what `--target cpu` divides by, and the flag-based estimate is shown beside it."""
from __future__ import annotations

from typing import Optional, Protocol

from .errors import ConfigError
from .results import DeviceCheck, SelfCheck
from .devices import cuda_device_count, is_jetson
from .environment import _cpu_model
from .measure.telemetry import jetson_power_state
from .targets import cpu_profile, load_target_profile, measure_bandwidth_gbs, measure_gemm_tflops

AT_SPEC = 0.70


class Probe(Protocol):
    """What the doctor measures; tests hand in fake readings for the GPU and Jetson branches."""
    kind: str                                           # cpu | gpu | jetson

    def device_name(self) -> str: ...
    def gemm_tflops(self, precision: str) -> tuple[float, str]: ...
    def bandwidth_gbs(self) -> tuple[float, str]: ...
    def power_state(self) -> tuple[Optional[str], Optional[bool]]: ...


class CpuProbe:
    kind = "cpu"

    def device_name(self) -> str:
        return _cpu_model()

    def gemm_tflops(self, precision: str) -> tuple[float, str]:
        return measure_gemm_tflops()

    def bandwidth_gbs(self) -> tuple[float, str]:
        return measure_bandwidth_gbs(), "best of 5 numpy copies of 256 MiB (read + write)"

    def power_state(self) -> tuple[Optional[str], Optional[bool]]:
        return None, None


class CudaProbe:
    """torch on CUDA: timed with CUDA events, after a warm-up, on a device kept busy for about a second each."""

    def __init__(self, device: int = 0):
        import torch

        self.torch, self.device = torch, f"cuda:{device}"
        self.kind = "jetson" if is_jetson() else "gpu"

    def device_name(self) -> str:
        return self.torch.cuda.get_device_name(self.device)

    def _timed(self, fn, repeats: int) -> float:
        torch = self.torch
        fn()
        torch.cuda.synchronize(self.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / repeats

    def gemm_tflops(self, precision: str) -> tuple[float, str]:
        torch = self.torch
        n = 8192 if self.kind == "gpu" else 4096
        dtype = torch.float16 if precision == "fp16" else torch.float32
        a = torch.randn(n, n, device=self.device, dtype=dtype)
        b = torch.randn(n, n, device=self.device, dtype=dtype)
        prior = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            s = self._timed(lambda: a @ b, 20)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prior
        return 2 * n ** 3 / s / 1e12, f"torch {precision.upper()} GEMM {n}^3, 20 runs, CUDA events"

    def bandwidth_gbs(self) -> tuple[float, str]:
        torch = self.torch
        n = (1 << 30) if self.kind == "gpu" else (256 << 20)
        a = torch.empty(n, dtype=torch.uint8, device=self.device)
        b = torch.empty_like(a)
        s = self._timed(lambda: b.copy_(a), 20)
        return 2 * n / s / 1e9, f"device-to-device copy of {n >> 20} MiB (read + write), 20 runs, CUDA events"

    def power_state(self) -> tuple[Optional[str], Optional[bool]]:
        if self.kind != "jetson":
            return None, None
        return jetson_power_state()


def default_probe(device: str) -> Probe:
    if device == "cpu":
        return CpuProbe()

    if device.startswith("cuda") or (device == "auto" and cuda_device_count()):
        try:
            return CudaProbe(int(device.split(":")[1]) if ":" in device else 0)
        except ImportError:
            raise ConfigError("doctor on a GPU needs torch with CUDA (pip install torch)") from None
    return CpuProbe()


def _check(name: str, measured: tuple[float, str], reference: Optional[float], unit: str) -> DeviceCheck:
    value, method = measured
    return DeviceCheck(name, value, reference, unit, None if not reference else value >= AT_SPEC * reference, method)


def doctor(target_name: Optional[str] = None, device: str = "auto", probe: Optional[Probe] = None) -> SelfCheck:
    """Measure, then compare with the target (by default `cpu` on a CPU; on a GPU the target must be named)."""
    probe = probe or default_probe(device)
    name = probe.device_name()
    if target_name is not None:
        is_cpu = target_name.partition("@")[0] == "cpu"  # `cpu` is this machine: nothing to load (it would measure)
        wanted = None if is_cpu else load_target_profile(target_name)
        if (probe.kind != "cpu") if is_cpu else not wanted.describes(probe.kind, name):
            raise ConfigError(f"doctor --target {target_name}: this device is {name} ({probe.kind}), not "
                              f"{'a CPU' if is_cpu else f'a {wanted.name} ({wanted.kind})'}; run doctor on that device, or "
                              "name this one's profile (see `deployprof targets`; `cpu` for this machine's CPU)")
    mode, locked = probe.power_state()
    notes: list[str] = []
    if probe.kind == "cpu":
        gemm, bw = probe.gemm_tflops("fp32"), probe.bandwidth_gbs()
        est = cpu_profile(bandwidth_gbs=bw[0], gemm_tflops=gemm[0])
        notes.append(f"no datasheet for a CPU: `--target cpu` divides by the measured ceiling; {est.sources['peak_estimate']}")
        checks = (_check("FP32 GEMM", (gemm[0] * 1e3, gemm[1]), None, "GFLOP/s"),
                  _check("memory copy bandwidth", bw, None, "GB/s"))
        return SelfCheck(name, "cpu", None, None, checks, None, tuple(notes))
    if target_name is None:
        raise ConfigError(f"doctor on {name}: name its target profile with --target (see `deployprof targets`) to "
                          "compare with the datasheet")
    target = load_target_profile(target_name)
    if mode and target.power_modes and "@" not in target_name:
        if mode in target.power_modes:
            target = target.in_mode(mode)
            notes.append(f"compared with the datasheet scaled to the current power mode {mode}")
        else:
            notes.append(f"power mode {mode} is not among the profile's ({', '.join(target.power_modes)}): compared with MAXN")
    if locked is False:
        notes.append("clocks are not locked (sudo jetson_clocks): figures vary with DVFS")
    fp32_key = "tf32" if "tf32" in target.peak_tflops else "fp32"
    checks = (_check("FP16 GEMM", probe.gemm_tflops("fp16"), target.peak_tflops.get("fp16"), "TFLOP/s"),
              _check(f"{fp32_key.upper()} GEMM", probe.gemm_tflops(fp32_key), target.peak_tflops.get(fp32_key), "TFLOP/s"),
              _check("memory copy bandwidth", probe.bandwidth_gbs(), target.memory_bandwidth_gbs, "GB/s"))
    judged = [c.at_spec for c in checks if c.at_spec is not None]
    at_spec = all(judged) if judged else None
    if at_spec is False:
        low = ", ".join(f"{c.name} {c.measured / c.reference:.0%}" for c in checks if c.at_spec is False)
        notes.append(f"NOT AT SPEC ({low} of the datasheet, below {AT_SPEC:.0%}): check the power mode, clock locking, "
                     "temperature and other processes on the device before judging a policy on it")
    return SelfCheck(name, target.name + (f"@{target.power_mode}" if target.power_mode else ""), mode, locked, checks,
                     at_spec, tuple(notes))
