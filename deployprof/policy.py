"""One policy step from the manifest alone: stages called in schedule order, outputs fed forward by name,
the flow-matching loop integrated on the host (as deployed exporters do: one step graph, loop outside)."""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from typing import Iterator, Mapping

import numpy as np

from .backends.base import BACKENDS, Backend
from .config import BackendOptions
from .manifest import Manifest, Subject
from .schedule import ScheduleWalker


def cosine_alpha_bar(steps: int, s: float = 0.008) -> np.ndarray:
    """alpha_bar(t) for t = 0..steps, cosine schedule (Nichol & Dhariwal); alpha_bar(0) = 1."""
    t = np.arange(steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    return np.clip(f / f[0], 1e-5, 1.0)


class PolicyStep(ScheduleWalker):
    def __init__(self, manifest: Manifest, backends: Mapping[str, Backend]):
        super().__init__(manifest.stages, manifest.schedule)
        self.manifest = manifest
        self.backends = backends
        self.input_names = {s.name: [t.name for t in s.inputs if t.name not in s.weight_inputs] for s in manifest.stages}
        self.reset()

    def reset(self) -> None:
        self.stage_ns = {s.name: 0 for s in self.manifest.stages}
        self.steps = 0

    recorder = None  # {stage: [feeds, ...]} when set: every stage call's inputs are kept (INT8 calibration)
    trace = None     # [state, ...] when set: the loop state after each denoising step (accuracy over steps)

    def call(self, stage: str, env: dict) -> dict:
        feeds = {n: env[n] for n in self.input_names[stage]}
        if self.recorder is not None:
            self.recorder.setdefault(stage, []).append(feeds)
        t0 = time.perf_counter_ns()
        out = self.backends[stage].run(feeds)
        self.stage_ns[stage] += time.perf_counter_ns() - t0
        return out

    def __call__(self, external: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = self.walk(dict(external))
        self.steps += 1
        return env

    def _time(self, stage: str, loop, batch: int, value: float) -> np.ndarray:
        return np.full((batch,), value, dtype=np.dtype(self.dtype(stage, loop.time)))

    def euler(self, stage: str, loop, env: dict) -> None:
        dt = -1.0 / loop.steps
        x = env[loop.state]
        for i in range(loop.steps):
            env[loop.time] = self._time(stage, loop, x.shape[0], 1.0 + i * dt)
            out = self.call(stage, env)
            x = env[loop.state] = (x + dt * out[loop.output]).astype(x.dtype, copy=False)
            if self.trace is not None:
                self.trace.append(x)

    def ddim(self, stage: str, loop, env: dict) -> None:
        ab = cosine_alpha_bar(loop.steps)
        x = env[loop.state]
        for t in range(loop.steps, 0, -1):
            env[loop.time] = self._time(stage, loop, x.shape[0], t)
            eps = self.call(stage, env)[loop.output]
            x0 = np.clip((x - np.sqrt(1 - ab[t]) * eps) / np.sqrt(ab[t]), -1.0, 1.0)
            x = env[loop.state] = (np.sqrt(ab[t - 1]) * x0 + np.sqrt(1 - ab[t - 1]) * eps).astype(x.dtype, copy=False)
            if self.trace is not None:
                self.trace.append(x)

    def autoregressive(self, stage: str, loop, env: dict) -> None:
        bins, picked = loop.bins, []
        token_dtype = np.dtype(self.dtype(stage, loop.state))
        for i in range(loop.steps):
            logits = env[loop.output]
            vocab = logits.shape[-1]
            idx = np.argmax(logits[:, vocab - bins:], axis=-1)
            picked.append(idx)
            if i == loop.steps - 1:
                break
            env[loop.state] = (idx + vocab - bins).astype(token_dtype)[:, None]
            out = self.call(stage, env)
            env[loop.output] = out[loop.output]
            for cache_in, cache_out in loop.cache:
                env[cache_in] = out[cache_out]
        env[loop.result] = ((np.stack(picked, axis=1) + 0.5) / bins * 2.0 - 1.0).astype(np.float32)

    def stage_mean_ms(self) -> dict[str, float]:
        return {k: v / 1e6 / max(self.steps, 1) for k, v in self.stage_ns.items()}


@contextmanager
def open_policy(subject: Subject, backend: str, options: BackendOptions = BackendOptions()) -> Iterator[PolicyStep]:
    """The one way to open a policy on a backend: every stage loaded (or none: a failed load closes those already
    open), yielded as a PolicyStep whose `.backends` hold them, and every stage closed on the way out."""
    manifest, root = subject
    cls = BACKENDS.get(backend)
    with ExitStack() as stack:
        yield PolicyStep(manifest, {s.name: stack.enter_context(cls(s, root, manifest, options)) for s in manifest.stages})
