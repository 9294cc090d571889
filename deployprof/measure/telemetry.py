"""Power, clocks and temperature while a run is timed: tegrastats (or jtop's API when installed) on a Jetson,
NVML on desktop GPUs. Samplers run beside the timed loop (tegrastats in its own process; NVML and jtop poll from a
thread every interval) and are summarised into TelemetryStats; none is started on a CPU-only machine."""
from __future__ import annotations

import shutil
import subprocess
import threading
from typing import Optional

from ..devices import is_jetson
from ..results import TelemetryStats
from .tegrastats import TegraSample, parse_jetson_clocks, parse_nvpmodel, parse_tegrastats

THROTTLE_TEMP_C = 90.0


def _run(cmd: list[str]) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def jetson_power_state() -> tuple[Optional[str], Optional[bool]]:
    """(nvpmodel mode name, clocks locked by jetson_clocks); None where the tool is missing or needs root."""
    mode = parse_nvpmodel(_run(["nvpmodel", "-q"]) or "")[0]
    return mode, parse_jetson_clocks(_run(["jetson_clocks", "--show"]) or "")


def summarize_tegra(samples: list[TegraSample], wall_s: float, inferences: int, actions_per_inference: Optional[int],
                    source: str, interval_ms: float, mode: Optional[str], locked: Optional[bool]) -> Optional[TelemetryStats]:
    if not samples:
        return None
    rails: dict[str, list[float]] = {}
    for s in samples:
        for name, (cur, _) in s.rails_mw.items():
            rails.setdefault(name, []).append(cur)
    board = [s.board_power_mw for s in samples]
    board_rail = next((r for r, _ in board if r), None)
    board_mw = [p for _, p in board if p is not None]
    energy = (sum(board_mw) / len(board_mw)) * wall_s / inferences if board_mw and inferences else None  # mW*s = mJ
    freqs = [f for s in samples for f in s.gpu_freq_mhz]
    utils = [s.gpu_util_pct for s in samples if s.gpu_util_pct is not None]
    temps: dict[str, float] = {}
    for s in samples:
        for k, v in s.temperatures_c.items():
            temps[k] = max(temps.get(k, v), v)
    notes = []
    hot = [k for k, v in temps.items() if v >= THROTTLE_TEMP_C and k not in ("pmic",)]
    dropped = bool(freqs) and min(freqs) < 0.9 * max(freqs)
    if hot:
        notes.append(f"sensors at or above {THROTTLE_TEMP_C:g} C: {', '.join(hot)}")
    if dropped:
        notes.append(f"GPU clock varied {min(freqs)}-{max(freqs)} MHz during the run (DVFS or throttling)")
    if locked is False:
        notes.append("clocks not locked (run `sudo jetson_clocks` for repeatable numbers)")
    return TelemetryStats(
        source=source, samples=len(samples), interval_ms=interval_ms,
        power_mw_mean={k: sum(v) / len(v) for k, v in rails.items()}, power_mw_max={k: max(v) for k, v in rails.items()},
        board_power_rail=board_rail, energy_per_inference_mj=energy,
        energy_per_action_mj=energy / actions_per_inference if energy is not None and actions_per_inference else None,
        gpu_freq_mhz_min=min(freqs) if freqs else None, gpu_freq_mhz_max=max(freqs) if freqs else None,
        gpu_util_pct_mean=sum(utils) / len(utils) if utils else None, temperature_c_max=temps, power_mode=mode,
        clocks_locked=locked, throttled=bool(hot) or dropped, notes=tuple(notes))


class Sampler:
    """Start before the timed loop, stop after; summary() needs the loop's wall time and inference count."""
    source = "none"

    def __init__(self, interval_ms: float = 100.0):
        self.interval_ms = interval_ms

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def summary(self, wall_s: float, inferences: int, actions_per_inference: Optional[int]) -> Optional[TelemetryStats]:
        return None

    def __enter__(self) -> "Sampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class TegrastatsSampler(Sampler):
    source = "tegrastats"

    def start(self) -> None:
        self.mode, self.locked = jetson_power_state()
        self.samples: list[TegraSample] = []
        self.proc = subprocess.Popen(["tegrastats", "--interval", str(int(self.interval_ms))], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            s = parse_tegrastats(line)
            if s is not None:
                self.samples.append(s)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.join(timeout=2)

    def summary(self, wall_s, inferences, actions_per_inference):
        return summarize_tegra(self.samples, wall_s, inferences, actions_per_inference, self.source, self.interval_ms,
                               self.mode, self.locked)


class _PollingSampler(Sampler):
    def start(self) -> None:
        self.rows: list[dict] = []
        self._stop = threading.Event()
        self._open()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_ms / 1e3):
            try:
                self.rows.append(self._poll())
            except Exception:  # a reading that fails mid-run is a missing sample, not a failed run
                continue

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)

    def _open(self) -> None: ...

    def _poll(self) -> dict: ...


class NvmlSampler(_PollingSampler):
    """Desktop GPUs: board power, SM clock, temperature, utilisation and throttle reasons through NVML."""
    source = "nvml"

    def __init__(self, device_index: int = 0, interval_ms: float = 100.0):
        super().__init__(interval_ms)
        self.device_index = device_index

    def _open(self) -> None:
        import pynvml as nv

        nv.nvmlInit()
        self.nv, self.handle = nv, nv.nvmlDeviceGetHandleByIndex(self.device_index)

    def _poll(self) -> dict:
        nv, h = self.nv, self.handle
        reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or nv.nvmlDeviceGetCurrentClocksThrottleReasons
        bad = 0
        for name in ("nvmlClocksThrottleReasonSwPowerCap", "nvmlClocksThrottleReasonHwSlowdown",
                     "nvmlClocksThrottleReasonSwThermalSlowdown", "nvmlClocksThrottleReasonHwThermalSlowdown"):
            bad |= getattr(nv, name, 0)
        return {"power_mw": float(nv.nvmlDeviceGetPowerUsage(h)), "sm_mhz": float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
                "temp_c": float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                "util": float(nv.nvmlDeviceGetUtilizationRates(h).gpu), "throttle": bool(reasons(h) & bad)}

    def summary(self, wall_s, inferences, actions_per_inference):
        rows = self.rows
        if not rows:
            return None
        power = [r["power_mw"] for r in rows]
        mean = sum(power) / len(power)
        energy = mean * wall_s / inferences if inferences else None
        clocks = [r["sm_mhz"] for r in rows]
        dropped = clocks[-1] < 0.95 * clocks[0]   # the clock at the end of the run against its start
        throttled = any(r["throttle"] for r in rows) or dropped
        notes = (f"SM clock {clocks[0]:.0f} MHz at start, {clocks[-1]:.0f} MHz at end",)
        if any(r["throttle"] for r in rows):
            notes += ("NVML reported power-cap or thermal clock reasons",)
        if dropped:
            notes += ("the SM clock fell by more than 5% during the run",)
        return TelemetryStats(
            source=self.source, samples=len(rows), interval_ms=self.interval_ms, power_mw_mean={"gpu": mean},
            power_mw_max={"gpu": max(power)}, board_power_rail="gpu (NVML board power)", energy_per_inference_mj=energy,
            energy_per_action_mj=energy / actions_per_inference if energy is not None and actions_per_inference else None,
            gpu_freq_mhz_min=min(clocks), gpu_freq_mhz_max=max(clocks),
            gpu_util_pct_mean=sum(r["util"] for r in rows) / len(rows),
            temperature_c_max={"gpu": max(r["temp_c"] for r in rows)}, power_mode=None, clocks_locked=None,
            throttled=throttled, notes=notes)


class JtopSampler(_PollingSampler):
    """jetson-stats' API (needs its jtop service); its field names are read defensively across versions."""
    source = "jtop"

    def _open(self) -> None:
        from jtop import jtop

        self.jetson = jtop()
        self.jetson.start()
        self.mode = str(getattr(self.jetson, "nvpmodel", None) or "") or None
        clocks = getattr(self.jetson, "jetson_clocks", None)
        self.locked = bool(getattr(clocks, "status", clocks)) if clocks is not None else None

    def _poll(self) -> dict:
        return dict(self.jetson.stats)

    def stop(self) -> None:
        super().stop()
        self.jetson.close()

    def summary(self, wall_s, inferences, actions_per_inference):
        samples = []
        for row in self.rows:
            rails = {k.replace("Power ", ""): (float(v), float(v)) for k, v in row.items()
                     if str(k).startswith("Power ") and isinstance(v, (int, float))}
            temps = {k.replace("Temp ", "").lower(): float(v) for k, v in row.items()
                     if str(k).startswith("Temp ") and isinstance(v, (int, float)) and v > -256}
            util = row.get("GPU")
            samples.append(TegraSample(None, None, float(util) if isinstance(util, (int, float)) else None, (), None,
                                       temps, rails))
        return summarize_tegra(samples, wall_s, inferences, actions_per_inference, self.source, self.interval_ms,
                               self.mode, self.locked)


def make_sampler(uses_gpu: bool, device_index: int = 0, interval_ms: float = 100.0) -> Sampler:
    """The best source here, or a Sampler that records nothing (CPU-only machines)."""
    import importlib.util

    if is_jetson():
        if importlib.util.find_spec("jtop") is not None:
            try:
                s = JtopSampler(interval_ms)
                s._open()
                s.jetson.close()
                return JtopSampler(interval_ms)
            except Exception:
                pass
        if shutil.which("tegrastats"):
            return TegrastatsSampler(interval_ms)
        return Sampler(interval_ms)
    if uses_gpu and importlib.util.find_spec("pynvml") is not None:
        return NvmlSampler(device_index, interval_ms)
    return Sampler(interval_ms)
