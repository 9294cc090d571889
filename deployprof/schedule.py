"""The one interpreter of a policy's schedule, shared by inference (policy.PolicyStep) and training
(train.Trainer): a plain call feeds its outputs forward by name, `repeat` times; a loop goes to the walker's
method named after its kind. Inference integrates the whole loop; training samples one point of it for its loss."""
from __future__ import annotations

from typing import Iterable

from .manifest import LOOP_KINDS, CallSpec, LoopSpec


class ScheduleWalker:
    """Subclasses define call(stage, env) -> outputs, and one method per loop kind (euler, ddim, autoregressive)."""

    def __init__(self, stages: Iterable, schedule: tuple[CallSpec, ...]):
        self.schedule = schedule
        self.specs = {s.name: {t.name: t for t in s.inputs} for s in stages}

    def call(self, stage: str, env: dict) -> dict:
        raise NotImplementedError

    def walk(self, env: dict) -> dict:
        for call in self.schedule:
            if call.loop is None:
                for _ in range(call.repeat):
                    env.update(self.call(call.stage, env))
            elif call.loop.kind in LOOP_KINDS:
                getattr(self, call.loop.kind)(call.stage, call.loop, env)
            else:
                raise ValueError(f"unknown loop kind {call.loop.kind!r}")
        return env

    def dtype(self, stage: str, tensor: str) -> str:
        """The declared dtype of one of a stage's inputs (the loop writes its time and tokens in it)."""
        return self.specs[stage][tensor].dtype

    def euler(self, stage: str, loop: LoopSpec, env: dict) -> None: ...

    def ddim(self, stage: str, loop: LoopSpec, env: dict) -> None: ...

    def autoregressive(self, stage: str, loop: LoopSpec, env: dict) -> None: ...

    def diffusers(self, stage: str, loop: LoopSpec, env: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not run a diffusers scheduler loop")
