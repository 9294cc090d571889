"""A clock the tests drive: the harness and control loop take `clock`/`sleep` arguments, so their logic is
checked in simulated time, identical on an idle machine and on one whose cores are all busy."""
from __future__ import annotations


class FakeClock:
    def __init__(self, tick_ns: int = 1_000):
        self.now_ns = 0
        self.tick_ns = tick_ns   # every reading moves time on a little, so spin-waits end

    def __call__(self) -> int:
        self.now_ns += self.tick_ns
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)

    def work(self, ms: float):
        """A callable that takes `ms` of simulated time, like a model call would."""
        return lambda: self.sleep(ms / 1e3)
