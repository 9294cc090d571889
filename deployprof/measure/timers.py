"""Device-side timers the harness reads (CUDA events): the interface, and an event pool any runtime adapts to. Here,
below the backends that make them, so that measuring imports nothing from the backends."""
from __future__ import annotations

from abc import ABC, abstractmethod


class DeviceTimer(ABC):
    """Device-side time of the region between start() and stop() (CUDA events)."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def elapsed_ms(self) -> list[float]: ...

    def between(self) -> None:
        """Called by the harness after each timed call, outside the timed region (a pool grows here)."""

    def close(self) -> None:
        """Release what the timer holds (its events)."""


class EventPoolTimer(DeviceTimer):
    """CUDA-event timing from a pool: events are made before the timed loop, in chunks grown between calls (never
    inside a timed region), reused by later passes, and destroyed on close. `make`, `record(event, stream)`,
    `elapsed(start, end)` and `destroy(event)` adapt it to a runtime (torch, cuda-bindings, pycuda)."""
    CHUNK = 256

    def __init__(self, make, record, elapsed, destroy, stream):
        self.make, self.record, self.elapsed, self.destroy, self.stream = make, record, elapsed, destroy, stream
        self.events: list[tuple] = []
        self.used = 0
        self.created = self.destroyed = 0
        self._grow()

    def _grow(self) -> None:
        self.events += [(self.make(), self.make()) for _ in range(self.CHUNK)]
        self.created += 2 * self.CHUNK

    def start(self) -> None:
        self.record(self.events[self.used][0], self.stream)

    def stop(self) -> None:
        self.record(self.events[self.used][1], self.stream)
        self.used += 1

    def between(self) -> None:
        if self.used == len(self.events):
            self._grow()

    def elapsed_ms(self) -> list[float]:
        """The pass since the last call (the pool is then free for the next pass)."""
        out = [float(self.elapsed(a, b)) for a, b in self.events[:self.used]]
        self.used = 0
        return out

    def close(self) -> None:
        for pair in self.events:
            for ev in pair:
                self.destroy(ev)
                self.destroyed += 1
        self.events, self.used = [], 0
