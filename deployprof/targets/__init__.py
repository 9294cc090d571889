"""Target profiles: one YAML per device (datasheet figures, each with its source), users add their own by path.
`cpu` is built from this machine: its FP32 GEMM ceiling and copy bandwidth measured (no datasheet applies; the
figure /proc/cpuinfo flags suggest is kept as a note: it overstates AMD's AVX-512 and ignores turbo)."""
from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..precision_names import base_precision
from ..files import cache_root, confine, parse_yaml, read_document, write_json_atomic

# The device x precision table is each profile's peak_tflops: a precision runs natively where its arithmetic has a
# peak. int4 is weight-only (4-bit weights dequantized into FP16 arithmetic); nvfp4 would need fp4.
PRECISION_PEAK = {"fp32": ("tf32", "fp32"), "fp16": ("fp16",), "fp16-naive": ("fp16",), "bf16": ("bf16",),
                  "int8": ("int8",), "int8-dynamic": ("int8",), "fp8": ("fp8",), "int4": ("fp16",), "nvfp4": ("fp4",)}
ARITHMETIC = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4")   # the table's columns, in `deployprof targets`
NATIVE_FROM = {"bf16": "an Ampere or later GPU", "fp8": "an Ada, Hopper, Blackwell or Thor GPU", "fp4": "a Blackwell or Thor GPU"}
_REQUIRED = ("name", "description", "kind", "memory_gib", "unified_memory", "memory_bandwidth_gbs", "peak_tflops")


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    kind: str                                   # jetson | gpu | cpu
    memory_gib: float
    unified_memory: bool
    memory_bandwidth_gbs: float
    peak_tflops: dict[str, float]               # dense, no sparsity
    dla_cores: int = 0
    emulated: tuple[str, ...] = ()              # precisions run in FP32 kernels (the CPU's bf16 and fp8): floors at FP32
    typical_tensorrt: Optional[str] = None
    gpu_max_mhz: Optional[float] = None
    sources: dict[str, str] = field(default_factory=dict)
    power_modes: dict[str, dict[str, float]] = field(default_factory=dict)
    power_mode: Optional[str] = None
    device_names: tuple[str, ...] = ()          # what the device reports (NVML GPU name, Jetson device-tree model)

    def describes(self, kind: str, name: str) -> bool:
        """Is a device of this kind and name (results.MeasuredDevice) the one this profile is about? The kinds must
        agree and, where the profile lists device names, one must appear in the name as a whole word ("NVIDIA L4" is
        not "NVIDIA L40S"). A profile without names (a user's own) is matched on its kind alone."""
        if kind != self.kind:
            return False
        return not self.device_names or any(
            re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", name, re.IGNORECASE) for n in self.device_names)

    def peak(self, precision: str) -> float:
        """The highest dense rate a precision may use (FP32 layers may run as TF32 where the GPU has it)."""
        base = base_precision(precision)  # a mixed precision's floor: its base's
        keys = ("fp32",) if base in self.emulated else PRECISION_PEAK.get(base, (precision,))
        values = [self.peak_tflops[k] for k in keys if k in self.peak_tflops]
        if not values:
            raise ConfigError(self.refusal(precision) or f"target {self.name} has no peak figure for {precision}")
        return max(values)

    def refusal(self, precision: str) -> Optional[str]:
        """Why this device cannot run `precision` natively (None: it can), naming both: from the device x precision
        table (peak_tflops), never a floor or a PASS for an arithmetic the device does not have."""
        base = base_precision(precision)
        keys = PRECISION_PEAK.get(base, (base,))
        if base in self.emulated or any(k in self.peak_tflops for k in keys):
            return None
        has = ", ".join(k for k in ARITHMETIC if k in self.peak_tflops)
        need = NATIVE_FROM.get(keys[0])
        return (f"{self.name} cannot run {precision}: it has no {keys[0]} arithmetic (it runs {has})"
                + (f"; {keys[0]} needs {need}" if need else ""))

    def check(self, precisions) -> None:
        """Refuse, in one line, the first precision this device cannot run."""
        for p in precisions:
            why = self.refusal(p)
            if why:
                raise ConfigError(why)

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * (1 << 30))

    def in_mode(self, mode: str) -> "TargetProfile":
        if mode not in self.power_modes:
            raise ConfigError(f"target {self.name} has no power mode {mode!r}; it has {', '.join(self.power_modes) or 'none'}")
        m = self.power_modes[mode]
        return self.scaled(m.get("gpu_clock_ratio", 1.0), m.get("emc_ratio", 1.0), mode)

    def scaled(self, clock_ratio: float, emc_ratio: float = 1.0, mode: Optional[str] = None) -> "TargetProfile":
        return replace(self, peak_tflops={k: v * clock_ratio for k, v in self.peak_tflops.items()},
                       memory_bandwidth_gbs=self.memory_bandwidth_gbs * emc_ratio, power_mode=mode or self.power_mode)


def targets_dir() -> Path:
    return Path(__file__).parent


def list_targets() -> list[str]:
    return sorted(p.stem for p in targets_dir().glob("*.yaml")) + ["cpu"]


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v < 1e9


def _parse(data, where: str) -> TargetProfile:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a target profile is a YAML mapping with {', '.join(_REQUIRED)}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (see deployprof/targets/*.yaml for the format)")
    if "fp8" in data:
        raise ConfigError(f"{where}: `fp8: true|false` is gone: the precisions a device runs are its peak_tflops keys "
                          "(give `fp8: TFLOPS` there, or leave it out)")
    unknown = sorted(set(data) - {f for f in TargetProfile.__dataclass_fields__} - {"power_mode"})
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    peaks = data["peak_tflops"]
    if not isinstance(peaks, dict) or not peaks or not all(_positive(v) for v in peaks.values()):
        raise ConfigError(f"{where}: peak_tflops must map arithmetic ({', '.join(ARITHMETIC)}) to positive TFLOPS "
                          f"(finite numbers), got {peaks!r:.120}")
    odd = sorted(set(peaks) - set(ARITHMETIC))
    if odd:
        raise ConfigError(f"{where}: peak_tflops: unknown arithmetic {', '.join(map(str, odd))}; "
                          f"expected {', '.join(ARITHMETIC)}")
    for key in ("memory_gib", "memory_bandwidth_gbs", "gpu_max_mhz"):
        if key in data and not (key == "gpu_max_mhz" and data[key] is None) and not _positive(data[key]):
            raise ConfigError(f"{where}: {key} must be a positive, finite number, got {data[key]!r}")
    for key in ("name", "description", "kind"):
        if not isinstance(data[key], str):
            raise ConfigError(f"{where}: {key} must be a string, got {data[key]!r:.80}")
    modes = data.get("power_modes", {})
    if not isinstance(modes, dict) or not all(isinstance(m, dict) and all(_positive(v) for v in m.values())
                                              for m in modes.values()):
        raise ConfigError(f"{where}: power_modes map each mode to positive, finite scale factors")
    names = data.get("device_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(f"{where}: device_names must be a list of names the device reports, e.g. [\"Orin Nano\"]")
    return TargetProfile(**{k: v for k, v in data.items() if k not in ("power_mode", "peak_tflops", "device_names")},
                         peak_tflops={k: float(v) for k, v in peaks.items()}, device_names=tuple(names))


def profile_for(kind: str, name: str) -> Optional[TargetProfile]:
    """The profile of a device that ran (for its own roofline): `cpu` for a CPU (measured now), else the bundled
    profile that names it, else None."""
    if kind == "cpu":
        return cpu_profile()
    for target in list_targets():
        if target != "cpu":
            p = load_target_profile(target)
            if p.device_names and p.describes(kind, name):
                return p
    return None


def target_named_in(folder: Path, name: str, what: str) -> str:
    """A target a file names (a sweep's `targets:`, a spec's `target:`): a bundled name (NAME[@MODE], cpu) as is;
    a YAML path read relative to that file's folder and confined to it, like every path a file names."""
    path, at, mode = str(name).partition("@")
    if not path.endswith((".yaml", ".yml")) and "/" not in path and "\\" not in path:
        return name
    return str(confine(Path(folder), path, what)) + at + mode


def load_target_profile(name_or_path: str) -> TargetProfile:
    """NAME, NAME@POWER_MODE (e.g. jetson-agx-orin-64gb@30W), `cpu`, or a path to a YAML profile."""
    name, _, mode = str(name_or_path).partition("@")
    if name == "cpu":
        return cpu_profile()
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = targets_dir() / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown target {name!r}; known: {', '.join(list_targets())}, or a path to a YAML profile")
    try:
        st = path.stat()
        version = (st.st_mtime_ns, st.st_size)
    except OSError:
        version = None
    return _load(str(path), version, mode)


@functools.lru_cache(maxsize=64)
def _load(path: str, version: Optional[tuple[int, int]], mode: str) -> TargetProfile:
    """A profile read once per process and file version: a command that consults its target several times (a sweep
    validates, profiles and judges each configuration) sees one reading of a Jetson's live clock cap, not several."""
    data = parse_yaml(read_document(Path(path), "target profile YAML"), f"{path} (a target profile)")
    profile = _parse(data, path)
    if mode:
        return profile.in_mode(mode)
    live = live_jetson_clock_ratio(profile) if profile.kind == "jetson" else None
    if live is not None and live < 0.999:  # on the board itself: the clock cap of the power mode in force
        return profile.scaled(live, 1.0, f"live GPU clock cap, {live:.0%} of MAXN")
    return profile


def live_jetson_clock_ratio(profile: TargetProfile) -> Optional[float]:
    """On a Jetson: the GPU clock cap now in force (sysfs devfreq) over the profile's MAXN clock."""
    if not profile.gpu_max_mhz:
        return None
    for node in glob.glob("/sys/class/devfreq/*"):
        name = Path(node).name
        if not re.search(r"gpu|ga10b|gv11b|gp10b|gb10b", name):
            continue
        try:
            hz = int(Path(node, "max_freq").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        return min(hz / 1e6 / profile.gpu_max_mhz, 1.0)
    return None


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    first = text.split("\n\n")[0]
    return {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in first.splitlines()) if k.strip()}


def _max_mhz(info: dict[str, str]) -> Optional[float]:
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e3
    except (OSError, ValueError):
        pass
    try:
        return float(info.get("cpu MHz", ""))
    except ValueError:
        return None


def measure_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """Best of a few numpy copies of a buffer larger than any cache: read + write bytes over time."""
    import numpy as np

    a = np.ones(megabytes << 18, dtype=np.float32)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


@functools.lru_cache(maxsize=None)
def measure_gemm_tflops(n: int = 2048, repeats: int = 5) -> tuple[float, str]:
    """This CPU's FP32 matrix-multiply ceiling, measured: the best of `repeats` n x n x n products with numpy's BLAS
    and, when torch is already loaded (train-bench), with torch at its thread count; the faster library counts
    (each is a lower bound of what the cores can do). About a second; once per process."""
    import sys

    import numpy as np

    def best(mm, a, b) -> float:
        mm(a, b)
        t = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            mm(a, b)
            t = min(t, time.perf_counter() - t0)
        return 2 * n ** 3 / t / 1e12

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    results = {f"numpy ({np.__version__}, its BLAS threads)": best(np.matmul, a, b)}
    torch = sys.modules.get("torch")
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        results[f"torch ({torch.get_num_threads()} threads)"] = best(torch.matmul, ta, tb)
    how, value = max(results.items(), key=lambda kv: kv[1])
    return value, f"FP32 GEMM {n}x{n}x{n}, best of {repeats}, {how}: " + ", ".join(
        f"{k.split(' ')[0]} {v * 1e3:.0f} GFLOP/s" for k, v in results.items())


CEILINGS_TTL_S = 24 * 3600


def recent_cpu_profile(now: Optional[float] = None) -> TargetProfile:
    """cpu_profile() for labelling, measured at most once a day per machine and library (its GEMM and copy
    bandwidth take ~3 s, which every `profile` would otherwise pay for its layer-time bounds); the source says when
    it was measured. `--target cpu` and `doctor` measure now, always."""
    import numpy as np

    now = time.time() if now is None else now
    key = f"{_cpuinfo().get('model name', 'unknown CPU')} | {os.cpu_count()} cores | numpy {np.__version__}"
    path = cache_root() / "cpu-ceilings.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fresh = data["key"] == key and 0 <= now - float(data["measured_unix"]) < CEILINGS_TTL_S
        bw, gemm, when, how = float(data["bandwidth_gbs"]), float(data["gemm_tflops"]), data["measured_utc"], data["how"]
        if fresh and _positive(bw) and _positive(gemm):
            p = cpu_profile(bandwidth_gbs=bw, gemm_tflops=gemm)
            return replace(p, sources={**p.sources, "peak": f"measured {when}: {how}",
                                       "memory_bandwidth_gbs": f"measured {when}"})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    p = cpu_profile()
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    try:
        write_json_atomic(path, {"key": key, "measured_unix": now, "measured_utc": when,
                                 "bandwidth_gbs": p.memory_bandwidth_gbs, "gemm_tflops": p.peak_tflops["fp32"],
                                 "how": p.sources["peak"].removeprefix("measured now: ")})
    except OSError:
        pass  # an unwritable cache costs the next command a measurement, nothing else
    return p


def cpu_profile(bandwidth_gbs: Optional[float] = None, gemm_tflops: Optional[float] = None) -> TargetProfile:
    """FP32 peak = the measured GEMM ceiling (measure_gemm_tflops); FP16 as FP32 (no fast path measured); INT8 =
    the measured FP32 x 4 with VNNI, x2 without (derived, not measured). The flag-based figure (cores x clock x
    FP32 FLOP/cycle assuming two FMA units: AVX-512 64, AVX2+FMA 32, else 8) is kept as a note."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cores = os.cpu_count() or 1
    mhz = _max_mhz(info) or 2000.0
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    estimate = cores * mhz * 1e6 * per_cycle / 1e12
    fp32, how = (gemm_tflops, "given") if gemm_tflops is not None else measure_gemm_tflops()
    int8_ratio = 4 if flags & {"avx512_vnni", "avx_vnni"} else 2
    int8 = fp32 * int8_ratio
    fp16 = fp32
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    except (ValueError, OSError):
        mem_gib = 0.0
    bw = bandwidth_gbs if bandwidth_gbs is not None else measure_bandwidth_gbs()
    model = info.get("model name", "unknown CPU")
    return TargetProfile(
        name="cpu", description=f"this machine: {model}, {cores} logical cores at up to {mhz:.0f} MHz", kind="cpu",
        memory_gib=round(mem_gib, 1), unified_memory=True, memory_bandwidth_gbs=round(bw, 1),
        peak_tflops={"fp32": fp32, "fp16": fp16, "int8": int8}, device_names=(model,), emulated=("bf16", "fp8"),
        sources={"peak": f"measured now: {how}",
                 "peak_int8": f"derived: measured FP32 x {int8_ratio} ({'VNNI' if int8_ratio == 4 else 'no VNNI'}), not measured",
                 "emulated": "bf16 and fp8 run here as FP32 kernels with rounding / Q-DQ (accuracy, not their speed)",
                 "peak_estimate": f"flags would say {estimate * 1e3:.0f} GFLOP/s ({estimate / fp32:.2f}x the measured): "
                                  f"{cores} cores x {mhz:.0f} MHz x {per_cycle} FP32 FLOP/cycle (flags: "
                                  + ", ".join(sorted(flags & {'avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_fp16'})) + ")",
                 "memory_bandwidth_gbs": "measured now: best of 5 numpy copies of 256 MiB (read + write)",
                 "memory_gib": "sysconf physical pages"})
