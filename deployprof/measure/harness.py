"""The timed loop. Every iteration is timed on its own with perf_counter_ns after a device sync; the loop body
holds nothing else (no progress bars, no allocation beyond the list append)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..backends.base import DeviceTimer
from ..config import MeasureConfig

STEADY_TOLERANCE = 1.10   # an iteration within 10% of the warm-up tail's median counts as steady


Clock = Callable[[], int]  # nanoseconds; injected by tests so that the loop logic is checked without real time


@dataclass(frozen=True)
class Timing:
    samples_ns: list[int]
    device_ms: Optional[list[float]]
    first_run_ms: float
    warmup_ms: list[float]
    steady_after: int
    loop_wall_s: float


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


def _cold_and_warm(fns: list[Callable[[], object]], sync: Callable[[], None], cfg: MeasureConfig,
                   clock: Clock) -> tuple[float, list[float]]:
    """First call (cold, ms), then warm-up rounds until both the count and the time minimum are met."""
    t0 = clock()
    fns[0]()
    sync()
    first_ms = (clock() - t0) / 1e6
    warm: list[float] = []
    w_start = clock()
    while (len(warm) < cfg.warmup_iterations or (clock() - w_start) < cfg.warmup_min_s * 1e9) \
            and len(warm) < cfg.max_iterations:
        t0 = clock()
        for f in fns:
            f()
        sync()
        warm.append((clock() - t0) / 1e6 / len(fns))
    return first_ms, warm


def time_callable(fn: Callable[[], object], sync: Callable[[], None], cfg: MeasureConfig,
                  device_timer: Optional[DeviceTimer] = None,
                  before_measure: Optional[Callable[[], None]] = None, clock: Clock = time.perf_counter_ns) -> Timing:
    first_ms, warm = _cold_and_warm([fn], sync, cfg, clock)
    stop_ns = int(cfg.stop_after_s * 1e9) if cfg.stop_after_s is not None else None
    limit = cfg.iterations if cfg.iterations is not None else cfg.max_iterations
    if before_measure is not None:
        before_measure()
    samples: list[int] = []
    append = samples.append
    start = clock()
    if device_timer is None:
        while True:
            t0 = clock()
            fn()
            sync()
            t1 = clock()
            append(t1 - t0)
            if len(samples) >= limit or (stop_ns is not None and t1 - start >= stop_ns):
                break
    else:
        while True:
            t0 = clock()
            device_timer.start()
            fn()
            device_timer.stop()
            sync()
            t1 = clock()
            append(t1 - t0)
            if len(samples) >= limit or (stop_ns is not None and t1 - start >= stop_ns):
                break
    wall = (clock() - start) / 1e9
    return Timing(samples_ns=samples, device_ms=device_timer.elapsed_ms() if device_timer else None,
                  first_run_ms=first_ms, warmup_ms=warm, steady_after=steady_state_index(warm), loop_wall_s=wall)


def time_concurrent(fns: list[Callable[[], object]], sync: Callable[[], None], cfg: MeasureConfig,
                    clock: Clock = time.perf_counter_ns) -> Timing:
    """`len(fns)` threads issue requests back to back (each with its own bound inputs); every request's
    latency is kept and throughput comes from the wall time of the whole measured window."""
    import itertools
    import threading

    first_ms, warm = _cold_and_warm(fns, sync, cfg, clock)
    limit = cfg.iterations if cfg.iterations is not None else cfg.max_iterations
    stop_ns = int(cfg.stop_after_s * 1e9) if cfg.stop_after_s is not None else None
    issued = itertools.count()
    per_thread: list[list[int]] = [[] for _ in fns]
    barrier = threading.Barrier(len(fns) + 1)
    state = {}

    def worker(fn, out):
        barrier.wait()
        start = state["start"]
        while next(issued) < limit:
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
    for th in threads:
        th.join()
    wall = (clock() - state["start"]) / 1e9
    samples = [x for out in per_thread for x in out]
    return Timing(samples_ns=samples, device_ms=None, first_run_ms=first_ms, warmup_ms=warm,
                  steady_after=steady_state_index(warm), loop_wall_s=wall)
