"""Interleaved A/B timing: two callables measured in alternating blocks in one window, so that load, clocks and
thermal state hit both alike; each pair of adjacent blocks gives one ratio B/A (the order inside a pair is drawn at
random so that a load switching on between two blocks favours neither side). Sees only callables and a clock."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .between import Ratio, decided, paired
from .harness import Clock

MIN_BLOCKS = 12          # pairs before the first decision (a bounded median interval needs 6; 12 keeps it honest)
MAX_BLOCKS = 400


@dataclass(frozen=True)
class InterleaveConfig:
    threshold_pct: Optional[float] = 2.0  # stop once the interval lies wholly above or below +threshold, ...
    width_pct: Optional[float] = None     # ... or once it is this narrow (hi / lo - 1): a ratio to report, no gate
    block_s: float = 0.05         # target length of one block (calls per block chosen from the warm-up)
    warmup_s: float = 0.5         # alternating warm-up of both before the first block
    max_s: float = 60.0           # the whole measurement's cap (warm-up included)
    min_blocks: int = MIN_BLOCKS
    max_blocks: int = MAX_BLOCKS
    seed: int = 0


@dataclass(frozen=True)
class InterleavedTiming:
    a_block_ms: list[float]       # median call time of each A block, in the order the pairs ran
    b_block_ms: list[float]
    b_first: list[bool]           # which side ran first in each pair
    calls_per_block: int
    stop: str                     # "decided" | "max_blocks" | "time_cap"
    wall_s: float
    ratio: Optional[Ratio]


def _block(fn: Callable[[], object], sync: Callable[[], None], calls: int, clock: Clock) -> float:
    times = []
    for _ in range(calls):
        t0 = clock()
        fn()
        sync()
        times.append(clock() - t0)
    times.sort()
    return times[len(times) // 2] / 1e6


def interleave(fa: Callable[[], object], fb: Callable[[], object], sync: Callable[[], None] = lambda: None,
               cfg: InterleaveConfig = InterleaveConfig(), clock: Clock = time.perf_counter_ns) -> InterleavedTiming:
    start = clock()
    warm_a, warm_b = [], []
    while True:  # alternate single calls until both are warm (and at least 3 calls each)
        warm_a.append(_block(fa, sync, 1, clock))
        warm_b.append(_block(fb, sync, 1, clock))
        if len(warm_a) >= 3 and clock() - start >= cfg.warmup_s * 1e9:
            break
    per_call = max(sorted(warm_a)[len(warm_a) // 2], sorted(warm_b)[len(warm_b) // 2], 1e-6)
    calls = max(1, int(cfg.block_s * 1e3 / per_call))
    rng = random.Random(cfg.seed)
    a, b, b_first, ratio, stop = [], [], [], None, "max_blocks"
    while len(a) < cfg.max_blocks:
        first = rng.random() < 0.5
        if first:
            vb = _block(fb, sync, calls, clock)
            va = _block(fa, sync, calls, clock)
        else:
            va = _block(fa, sync, calls, clock)
            vb = _block(fb, sync, calls, clock)
        a.append(va)
        b.append(vb)
        b_first.append(first)
        if len(a) >= cfg.min_blocks:
            ratio = paired(a, b)
            if (cfg.threshold_pct is not None and decided(ratio, cfg.threshold_pct)) or \
                    (cfg.width_pct is not None and ratio is not None and ratio.hi / ratio.lo - 1 <= cfg.width_pct / 100):
                stop = "decided"
                break
        if clock() - start >= cfg.max_s * 1e9:
            stop = "time_cap"
            break
    if ratio is None and len(a) >= 6:
        ratio = paired(a, b)
    return InterleavedTiming(a, b, b_first, calls, stop, (clock() - start) / 1e9, ratio)
