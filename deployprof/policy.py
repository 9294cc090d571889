"""One policy step from the manifest alone: stages called in schedule order, outputs fed forward by name, the
denoising or decoding loop integrated outside the graphs (as deployed exporters do: one step graph, loop outside),
on the host or, for a device backend, on the device."""
from __future__ import annotations

import math
import time
from contextlib import ExitStack, contextmanager
from typing import Iterator, Mapping

import numpy as np
from array_api_compat import array_namespace, device

from .backends.base import BACKENDS, Backend
from .config import BackendOptions
from .manifest import Manifest, LoadedExport
from .results import TransferTimes
from .schedule import ScheduleWalker


def cosine_alpha_bar(steps: int, s: float = 0.008) -> np.ndarray:
    """alpha_bar(t) for t = 0..steps, cosine schedule (Nichol & Dhariwal); alpha_bar(0) = 1."""
    t = np.arange(steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    return np.clip(f / f[0], 1e-5, 1.0)


def scheduler_noise(s, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The noise a DDPM loop adds after each step (float64, one array per timestep), the same every policy step so
    that runs and precisions compare; the export's parity check hands LeRobot the same draws."""
    rng = np.random.default_rng(s.noise_seed)
    return [rng.standard_normal(shape).astype(np.float32).astype(np.float64) for _ in s.timesteps]


class PolicyStep(ScheduleWalker):
    """A policy step from host arrays (`step(external)`), or, on a backend whose arrays live on a device,
    device-resident (`step.resident(to_device(external))`): stage outputs feed the next stage where they are and
    the loop update runs on the device (one array-API code path for numpy and torch), so the only copies are the
    external inputs in (to_device) and the action out (to_host), which the runner times in a pass of their own."""

    def __init__(self, manifest: Manifest, backends: Mapping[str, Backend]):
        super().__init__(manifest.stages, manifest.schedule)
        self.manifest = manifest
        self.backends = backends
        self.device = next(iter(backends.values()))  # every stage of a step shares one backend class and device
        self.input_names = {s.name: [t.name for t in s.inputs if t.name not in s.weight_inputs] for s in manifest.stages}
        self._run_stage = "run"
        self._noise: dict = {}   # a DDPM loop's step noise per shape and device (_step_noise)
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
        out = getattr(self.backends[stage], self._run_stage)(feeds)
        self.stage_ns[stage] += time.perf_counter_ns() - t0
        return out

    def __call__(self, external: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = self.walk(dict(external))
        self.steps += 1
        return env

    @property
    def can_stay_on_device(self) -> bool:
        return self.device.has_device_arrays()

    def to_device(self, external: Mapping[str, np.ndarray]) -> dict:
        return {k: self.device.to_device(v) for k, v in external.items()}

    def resident(self, external_on_device: Mapping) -> dict:
        """One step without host round trips: its stages' device_run and the loop on the device."""
        self._run_stage = "device_run"
        try:
            with self.device.device_context():
                return self(external_on_device)
        finally:
            self._run_stage = "run"

    def action(self, env: Mapping) -> np.ndarray:
        """The action on the host (the one copy out of a device-resident step)."""
        return self.device.to_host(env[self.manifest.action_output])

    def _time(self, stage: str, loop, like, value: float):
        xp = array_namespace(like)
        return xp.full((like.shape[0],), value, dtype=getattr(xp, self.dtype(stage, loop.time)), device=device(like))

    def euler(self, stage: str, loop, env: dict) -> None:
        dt = -1.0 / loop.steps
        x = env[loop.state]
        xp = array_namespace(x)
        for i in range(loop.steps):
            env[loop.time] = self._time(stage, loop, x, 1.0 + i * dt)
            out = self.call(stage, env)
            x = env[loop.state] = xp.astype(x + dt * out[loop.output], x.dtype, copy=False)
            if self.trace is not None:
                self.trace.append(x)

    def ddim(self, stage: str, loop, env: dict) -> None:
        ab = [float(v) for v in cosine_alpha_bar(loop.steps)]
        x = env[loop.state]
        xp = array_namespace(x)
        for t in range(loop.steps, 0, -1):
            env[loop.time] = self._time(stage, loop, x, t)
            eps = xp.astype(self.call(stage, env)[loop.output], xp.float64)  # the update in float64, as always
            x0 = xp.clip((xp.astype(x, xp.float64) - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t]), -1.0, 1.0)
            x = env[loop.state] = xp.astype(math.sqrt(ab[t - 1]) * x0 + math.sqrt(1 - ab[t - 1]) * eps, x.dtype)
            if self.trace is not None:
                self.trace.append(x)

    def diffusers(self, stage: str, loop, env: dict) -> None:
        """A diffusers DDPM or DDIM scheduler's steps (SchedulerSpec), in float64 as the other loops: x0 from the
        prediction (clipped), then DDPM's posterior mean plus sigma_t * noise (t > 0), or DDIM's eta = 0 update."""
        s = loop.scheduler
        x = env[loop.state]
        xp = array_namespace(x)
        noise = self._step_noise(s, x, xp) if s.type == "DDPM" else None
        for i, t in enumerate(s.timesteps):
            env[loop.time] = self._time(stage, loop, x, t)
            out = xp.astype(self.call(stage, env)[loop.output], xp.float64)
            xs, ab, abp = xp.astype(x, xp.float64), s.alpha_bar[i], s.alpha_bar_prev[i]
            if s.prediction == "epsilon":
                x0, eps = (xs - math.sqrt(1 - ab) * out) / math.sqrt(ab), out
            else:
                x0, eps = out, (xs - math.sqrt(ab) * out) / math.sqrt(1 - ab)
            if s.clip is not None:
                x0 = xp.clip(x0, -s.clip, s.clip)
            if s.type == "DDPM":
                alpha, beta = ab / abp, 1 - ab / abp
                new = math.sqrt(abp) * beta / (1 - ab) * x0 + math.sqrt(alpha) * (1 - abp) / (1 - ab) * xs
                if t > 0:
                    sigma = math.sqrt(max((1 - abp) / (1 - ab) * beta, 1e-20))
                    new = new + sigma * noise[i]
            else:
                new = math.sqrt(abp) * x0 + math.sqrt(1 - abp) * eps
            x = env[loop.state] = xp.astype(new, x.dtype)
            if self.trace is not None:
                self.trace.append(x)

    def _step_noise(self, s, x, xp) -> list:
        """scheduler_noise drawn and placed on x's device once per shape, outside later timed steps (it is the same
        every policy step)."""
        key = (s.noise_seed, s.timesteps, tuple(x.shape), str(device(x)))
        if key not in self._noise:
            self._noise[key] = [xp.asarray(n, device=device(x)) for n in scheduler_noise(s, tuple(x.shape))]
        return self._noise[key]

    def autoregressive(self, stage: str, loop, env: dict) -> None:
        bins, picked = loop.bins, []
        xp = array_namespace(env[loop.output])
        token_dtype = getattr(xp, self.dtype(stage, loop.state))
        for i in range(loop.steps):
            logits = env[loop.output]
            vocab = logits.shape[-1]
            idx = xp.argmax(logits[:, vocab - bins:], axis=-1)
            picked.append(idx)
            if i == loop.steps - 1:
                break
            env[loop.state] = xp.astype(idx + (vocab - bins), token_dtype)[:, None]
            out = self.call(stage, env)
            env[loop.output] = out[loop.output]
            for cache_in, cache_out in loop.cache:
                env[cache_in] = out[cache_out]
        env[loop.result] = xp.astype((xp.astype(xp.stack(picked, axis=1), xp.float64) + 0.5) / bins * 2.0 - 1.0,
                                     xp.float32)

    def stage_mean_ms(self) -> dict[str, float]:
        return {k: v / 1e6 / max(self.steps, 1) for k, v in self.stage_ns.items()}

    def transfer_times(self, external: Mapping[str, np.ndarray], repeats: int = 10) -> TransferTimes:
        """The copies a device-resident step leaves out, in a pass of their own: external inputs in, action out,
        each timed on the wall clock between device synchronisations (as trtexec reports H2D and D2H apart)."""
        sync, h2d, d2h = self.device.synchronize, [], []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter_ns()
            on_device = self.to_device(external)
            sync()
            h2d.append(time.perf_counter_ns() - t0)
            env = self.resident(on_device)
            sync()
            t0 = time.perf_counter_ns()
            action = self.action(env)
            d2h.append(time.perf_counter_ns() - t0)
        return TransferTimes(h2d_mean_ms=sum(h2d) / len(h2d) / 1e6, d2h_mean_ms=sum(d2h) / len(d2h) / 1e6,
                             h2d_bytes=sum(int(v.nbytes) for v in external.values()), d2h_bytes=int(action.nbytes),
                             repeats=repeats, pinned_host_memory=False)


@contextmanager
def open_policy(subject: LoadedExport, backend: str,
                options: BackendOptions = BackendOptions()) -> Iterator[PolicyStep]:
    """The one way to open a policy on a backend: every stage loaded (or none: a failed load closes those already
    open), yielded as a PolicyStep whose `.backends` hold them, and every stage closed on the way out."""
    manifest, root = subject
    cls = BACKENDS.get(backend)
    with ExitStack() as stack:
        yield PolicyStep(manifest, {s.name: stack.enter_context(cls(s, root, manifest, options)) for s in manifest.stages})
