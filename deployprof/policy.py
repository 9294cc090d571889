"""One policy step from the manifest alone: stages called in schedule order, outputs fed forward by name,
the flow-matching loop integrated on the host (as deployed exporters do: one step graph, loop outside)."""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from .backends.base import Backend
from .manifest import Manifest


class PolicyStep:
    def __init__(self, manifest: Manifest, backends: Mapping[str, Backend]):
        self.manifest = manifest
        self.backends = backends
        self.input_names = {s.name: [t.name for t in s.inputs if t.name not in s.weight_inputs] for s in manifest.stages}
        self.specs = {s.name: {t.name: t for t in s.inputs} for s in manifest.stages}
        self.reset()

    def reset(self) -> None:
        self.stage_ns = {s.name: 0 for s in self.manifest.stages}
        self.steps = 0

    def _call(self, stage: str, env: dict) -> dict:
        t0 = time.perf_counter_ns()
        out = self.backends[stage].run({n: env[n] for n in self.input_names[stage]})
        self.stage_ns[stage] += time.perf_counter_ns() - t0
        return out

    def __call__(self, external: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = dict(external)
        for call in self.manifest.schedule:
            loop = call.loop
            if loop is None:
                for _ in range(call.repeat):
                    env.update(self._call(call.stage, env))
                continue
            if loop.kind != "euler":
                raise ValueError(f"unknown loop kind {loop.kind!r}")
            dt = -1.0 / loop.steps
            time_dtype = np.dtype(self.specs[call.stage][loop.time].dtype)
            state_dtype = env[loop.state].dtype
            batch = env[loop.state].shape[0]
            for i in range(loop.steps):
                env[loop.time] = np.full((batch,), 1.0 + i * dt, dtype=time_dtype)
                out = self._call(call.stage, env)
                env[loop.state] = (env[loop.state] + dt * out[loop.derivative]).astype(state_dtype, copy=False)
        self.steps += 1
        return env

    def stage_mean_ms(self) -> dict[str, float]:
        return {k: v / 1e6 / max(self.steps, 1) for k, v in self.stage_ns.items()}
