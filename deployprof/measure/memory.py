"""Host and device memory over a run: a sampler thread records, the kernel's high-water mark confirms."""
from __future__ import annotations

import os
import resource
import sys
import threading
from typing import Callable, Optional

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:
        import psutil
        return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """High-water mark of this process's resident set. Linux: VmHWM, which starts afresh at exec (ru_maxrss
    does not: a child spawned from a big parent would inherit the parent's peak). Elsewhere ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class MemorySampler:
    """Samples RSS (and device memory, when a probe is given) every `interval_s` on a background thread."""

    def __init__(self, interval_s: float = 0.02, device_probe: Optional[Callable[[], Optional[int]]] = None):
        self.interval_s = interval_s
        self.device_probe = device_probe
        self.rss_peak = 0
        self.device_peak: Optional[int] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _sample(self) -> None:
        self.rss_peak = max(self.rss_peak, current_rss_bytes())
        if self.device_probe is not None:
            d = self.device_probe()
            if d is not None:
                self.device_peak = max(self.device_peak or 0, d)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "MemorySampler":
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="deployprof-mem", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
