"""What else the machine does while a run is timed: the load average before and after, and the CPU time every other
process took during the timed loop (the machine's busy time minus this process's), so that a comparison can name a
run measured beside a busy neighbour instead of blaming the code; and `pinned`, which keeps the measuring process on
chosen CPUs (--cpus)."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import psutil

from ..results import MachineLoad


def _busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _own_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _load_1m() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):   # not on every OS
        return float("nan")


class LoadMeter:
    """`with LoadMeter() as m: <timed loop>`, then `m.result`."""

    def __enter__(self) -> "LoadMeter":
        self._p = psutil.Process()
        self._load0, self._busy0, self._own0, self._t0 = _load_1m(), _busy_s(), _own_s(self._p), time.monotonic()
        self.result: Optional[MachineLoad] = None
        return self

    def __exit__(self, *exc) -> None:
        wall = time.monotonic() - self._t0
        others = (_busy_s() - self._busy0) - (_own_s(self._p) - self._own0)
        self.result = MachineLoad(load_1m_before=self._load0, load_1m_after=_load_1m(),
                                  other_cores_during=max(0.0, others / wall) if wall > 0 else 0.0,
                                  cores=psutil.cpu_count() or 1)


@contextmanager
def pinned(cpus: tuple[int, ...]) -> Iterator[None]:
    """This process (and the threads it starts) on `cpus` while inside; its former affinity after. () pins nothing."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
