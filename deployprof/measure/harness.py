"""The timed loop. Every iteration is timed on its own with perf_counter_ns after a device sync; the loop body
holds nothing else (no progress bars, no allocation beyond the list append)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..config import MeasureConfig
from ..results import Stop
from .stats import convergence
from .timers import DeviceTimer

STEADY_TOLERANCE = 1.10   # an iteration within 10% of the warm-up tail's median counts as steady
WARM_WINDOW, WARM_DRIFT = 10, 0.05   # warm-up ends when the last 10 calls' median is within 5% of the 10 before
FIRST_CHECK, CHECK_GROWTH = 64, 1.25  # an adaptive run checks convergence at 64 samples, then every +25%


Clock = Callable[[], int]  # nanoseconds; injected by tests so that the loop logic is checked without real time


@dataclass(frozen=True)
class Timing:
    samples_ns: list[int]
    device_ms: Optional[list[float]]
    first_run_ms: float
    warmup_ms: list[float]
    steady_after: int
    loop_wall_s: float
    stopped_by: str = ""
    warmup_steady: Optional[bool] = None
    stop: Optional[Stop] = None          # stopped_by as data: what the report's "ran" column reads


def steady_state_index(warmup_ms: list[float], window: int = 5) -> int:
    """First warm-up iteration that, with the median of the `window` starting there, is within STEADY_TOLERANCE of
    the median of the warm-up's second half; a single late outlier does not reset it."""
    if len(warmup_ms) < 2 * window:
        return len(warmup_ms)
    tail = sorted(warmup_ms[len(warmup_ms) // 2:])
    limit = tail[len(tail) // 2] * STEADY_TOLERANCE
    for i in range(len(warmup_ms) - window + 1):
        if warmup_ms[i] <= limit and sorted(warmup_ms[i:i + window])[window // 2] <= limit:
            return i
    return len(warmup_ms)


def _steady(warm: list[float]) -> bool:
    if len(warm) < 2 * WARM_WINDOW:
        return False
    last, before = sorted(warm[-WARM_WINDOW:]), sorted(warm[-2 * WARM_WINDOW:-WARM_WINDOW])
    return abs(last[WARM_WINDOW // 2] / max(before[WARM_WINDOW // 2], 1e-12) - 1.0) <= WARM_DRIFT


def _cold_and_warm(fns: list[Callable[[], object]], sync: Callable[[], None], cfg: MeasureConfig,
                   clock: Clock) -> tuple[float, list[float], bool]:
    """First call (cold, ms), then warm-up rounds until the count and the time minimum are met and the timing is
    steady, or warmup_max_s has passed. Returns (first ms, warm-up ms per call, ended steady)."""
    t0 = clock()
    fns[0]()
    sync()
    first_ms = (clock() - t0) / 1e6
    warm: list[float] = []
    w_start = clock()
    cap_ns = max(cfg.warmup_max_s, cfg.warmup_min_s) * 1e9
    while len(warm) < cfg.max_iterations:
        elapsed = clock() - w_start
        if len(warm) >= cfg.warmup_iterations and elapsed >= cfg.warmup_min_s * 1e9 and _steady(warm):
            return first_ms, warm, True
        if elapsed >= cap_ns and len(warm) >= cfg.warmup_iterations:
            break
        t0 = clock()
        for f in fns:
            f()
        sync()
        warm.append((clock() - t0) / 1e6 / len(fns))
    return first_ms, warm, False


def _stop_reason(cfg: MeasureConfig, n: int, elapsed_ns: int, samples: list[int]) -> Optional[tuple[Stop, str]]:
    """Why the timed loop stops after n samples (the kind, and the sentence for report.json), or None to go on.
    Called only at check points (see callers)."""
    if cfg.iterations is not None and n >= cfg.iterations:
        return "iterations", f"{n} iterations (--iterations)"
    if n >= cfg.max_iterations:
        return "max_iterations", f"{n} iterations (the most one run keeps)"
    if cfg.duration_s is not None and elapsed_ns >= cfg.duration_s * 1e9:
        return "duration", f"{cfg.duration_s:g} s (--duration)"
    if cfg.adaptive and elapsed_ns >= min(cfg.min_duration_s, cfg.max_duration_s) * 1e9:
        ok, text = convergence(samples)
        if ok:
            return "converged", f"converged: {text}"
        if elapsed_ns >= cfg.max_duration_s * 1e9:
            return "time_cap", f"time cap {cfg.max_duration_s:g} s, not converged: {text}"
    return None


def time_callable(fn: Callable[[], object], sync: Callable[[], None], cfg: MeasureConfig,
                  device_timer: Optional[DeviceTimer] = None,
                  before_measure: Optional[Callable[[], None]] = None, clock: Clock = time.perf_counter_ns) -> Timing:
    """Back-to-back calls, each timed on its own. The loop compares two integers per call; the stopping rule (and
    an adaptive run's convergence test) runs only at check points: the fixed end, or every +25% of samples."""
    first_ms, warm, steady = _cold_and_warm([fn], sync, cfg, clock)
    stop_ns = int(cfg.stop_after_s * 1e9) if cfg.stop_after_s is not None else None
    fixed = cfg.iterations if cfg.iterations is not None else cfg.max_iterations
    check_at = min(fixed, FIRST_CHECK) if cfg.adaptive else fixed
    if before_measure is not None:
        before_measure()
    samples: list[int] = []
    append = samples.append
    start = clock()
    deadline = start + stop_ns if stop_ns is not None else float("inf")
    reason = None

    def check(t1: int) -> bool:
        """At a check point: stop (reason set), or move the next check point on. Outside every timed region."""
        nonlocal reason, check_at
        reason = _stop_reason(cfg, len(samples), t1 - start, samples)
        check_at = min(fixed, int(len(samples) * CHECK_GROWTH) + 1)
        return reason is not None

    if device_timer is None:  # two loops, so that the common one calls nothing but fn and sync
        while True:
            t0 = clock()
            fn()
            sync()
            t1 = clock()
            append(t1 - t0)
            if (len(samples) >= check_at or t1 >= deadline) and check(t1):
                break
    else:
        timer_start, timer_stop, between = device_timer.start, device_timer.stop, device_timer.between
        while True:
            t0 = clock()
            timer_start()
            fn()
            timer_stop()
            sync()
            t1 = clock()
            append(t1 - t0)
            between()
            if (len(samples) >= check_at or t1 >= deadline) and check(t1):
                break
    wall = (clock() - start) / 1e9
    return Timing(samples_ns=samples, device_ms=device_timer.elapsed_ms() if device_timer else None,
                  first_run_ms=first_ms, warmup_ms=warm, steady_after=steady_state_index(warm), loop_wall_s=wall,
                  stopped_by=reason[1], warmup_steady=steady, stop=reason[0])


def time_concurrent(fns: list[Callable[[], object]], sync: Callable[[], None], cfg: MeasureConfig,
                    clock: Clock = time.perf_counter_ns) -> Timing:
    """`len(fns)` threads issue requests back to back (each with its own bound inputs); every request's
    latency is kept and throughput comes from the wall time of the whole measured window."""
    import itertools
    import threading

    first_ms, warm, steady = _cold_and_warm(fns, sync, cfg, clock)
    limit = cfg.iterations if cfg.iterations is not None else cfg.max_iterations
    stop_ns = int(cfg.stop_after_s * 1e9) if cfg.stop_after_s is not None else None
    issued = itertools.count()
    per_thread: list[list[int]] = [[] for _ in fns]
    barrier = threading.Barrier(len(fns) + 1)
    state = {}
    stop = threading.Event()

    def worker(fn, out):
        barrier.wait()
        start = state["start"]
        while next(issued) < limit and not stop.is_set():
            a = clock()
            fn()
            sync()
            b = clock()
            out.append(b - a)
            if stop_ns is not None and b - start >= stop_ns:
                break

    threads = [threading.Thread(target=worker, args=(f, o), daemon=True) for f, o in zip(fns, per_thread)]
    for th in threads:
        th.start()
    state["start"] = clock()
    barrier.wait()
    reason = None
    while cfg.adaptive and any(th.is_alive() for th in threads):  # the test runs here, never in a request thread
        stop.wait(0.1)
        snapshot = [x for out in per_thread for x in out[:]]
        if len(snapshot) >= FIRST_CHECK:
            reason = _stop_reason(cfg, len(snapshot), clock() - state["start"], snapshot)
            if reason is not None:
                stop.set()
                break
    for th in threads:
        th.join()
    wall = (clock() - state["start"]) / 1e9
    samples = [x for out in per_thread for x in out]
    if reason is None:  # the threads ran out their count or time on their own
        kind: Stop = "iterations" if cfg.iterations is not None else "duration" if cfg.duration_s is not None \
            else "max_iterations"
        reason = _stop_reason(cfg, len(samples), int(wall * 1e9), samples) or (kind, f"{len(samples)} requests")
    return Timing(samples_ns=samples, device_ms=None, first_run_ms=first_ms, warmup_ms=warm,
                  steady_after=steady_state_index(warm), loop_wall_s=wall, stopped_by=reason[1], warmup_steady=steady,
                  stop=reason[0])
