"""Control-loop mode: requests arrive on a fixed period, as on a robot, not back to back. A request that is
still running at the next tick is a deadline miss; the next one then starts late (no request is dropped)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError

SPIN_S = 0.0005  # sleep until this close to a tick, then spin, so start times are not at the scheduler's mercy


@dataclass(frozen=True)
class RateTiming:
    latency_ns: list[int]      # service time of each request (start -> done)
    start_lag_ns: list[int]    # actual start - scheduled tick
    response_ns: list[int]     # done - scheduled tick (what the controller waits for)
    wall_s: float


def _wait_until(t_ns: int, clock: Callable[[], int], sleep: Callable[[float], None]) -> None:
    remaining = (t_ns - clock()) / 1e9
    if remaining > SPIN_S:
        sleep(remaining - SPIN_S)
    while clock() < t_ns:
        pass


def time_at_rate(fn: Callable[[], object], sync: Callable[[], None], rate_hz: float, requests: int,
                 clock: Callable[[], int] = time.perf_counter_ns, sleep: Callable[[float], None] = time.sleep) -> RateTiming:
    """`clock` (ns) and `sleep` (s) are injected by tests, so the pacing logic is checked without real time."""
    if rate_hz <= 0 or requests < 1:
        raise ConfigError("--rate must be > 0 Hz and the run must have at least one request")
    period = int(1e9 / rate_hz)
    lat, lag, resp = [], [], []
    start = clock() + period
    for i in range(requests):
        tick = start + i * period
        _wait_until(tick, clock, sleep)
        t0 = clock()
        fn()
        sync()
        t1 = clock()
        lat.append(t1 - t0)
        lag.append(t0 - tick)
        resp.append(t1 - tick)
    return RateTiming(lat, lag, resp, (clock() - start) / 1e9)


def idle_gap_latencies(fn: Callable[[], object], sync: Callable[[], None], gaps_s: tuple[float, ...],
                       repeats: int = 3, clock: Callable[[], int] = time.perf_counter_ns,
                       sleep: Callable[[float], None] = time.sleep) -> dict[str, tuple[float, ...]]:
    """Latency of the first request after each idle gap (clocks and caches cool down while a robot waits)."""
    out: dict[str, tuple[float, ...]] = {}
    for gap in gaps_s:
        vals = []
        for _ in range(repeats):
            sleep(gap)
            t0 = clock()
            fn()
            sync()
            vals.append((clock() - t0) / 1e6)
        out[f"{gap:g}"] = tuple(vals)
    return out


def summarize_rate(t: RateTiming, rate_hz: float, chunk: Optional[int]) -> dict:
    period_ms = 1e3 / rate_hz
    resp = np.asarray(t.response_ns) / 1e6
    lat = np.asarray(t.latency_ns) / 1e6
    lag = np.asarray(t.start_lag_ns) / 1e6
    misses = int((resp > period_ms).sum())
    p50 = float(np.median(lat))
    return {
        "rate_hz": rate_hz, "period_ms": period_ms, "requests": len(lat), "deadline_ms": period_ms,
        "deadline_misses": misses, "deadline_miss_rate": misses / len(lat),
        "response_p50_ms": float(np.median(resp)), "response_p99_ms": float(np.quantile(resp, 0.99, method="inverted_cdf")),
        "start_lag_p50_ms": float(np.median(lag)), "start_lag_max_ms": float(lag.max()),
        "jitter_ms": float(np.std(np.diff(np.asarray(t.start_lag_ns) / 1e6))) if len(lag) > 1 else 0.0,
        "chunk_length": chunk,
        "effective_action_rate_per_s": (chunk / (p50 / 1e3)) if chunk and p50 > 0 else None,
    }
