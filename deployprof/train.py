"""`deployprof train-bench`: behaviour cloning of a reference preset on a seeded synthetic dataset, with the
loss its family really trains with (flow matching, DDPM noise prediction, action-token cross-entropy, L1), timed
with the same statistics as inference. Imports torch (lazily, from the CLI)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .errors import ConfigError
from .measure.memory import MemorySampler, current_rss_bytes, peak_rss_bytes
from .measure.stats import compute_stats
from .results import TrainResult
from .manifest import external_inputs
from .schedule import ScheduleWalker
from .inputs import make_inputs
from .policy import cosine_alpha_bar
from .presets import load_preset

OPTIMIZERS = ("adamw", "sgd")
VISION_MODULES = ("VisionEncoder", "MultiCameraViT", "DualVision", "ResNet18")


@dataclass(frozen=True)
class TrainConfig:
    batch: int = 8
    steps: int = 30
    warmup_steps: int = 3
    dataset_size: int = 256
    optimizer: str = "adamw"
    lr: float = 1e-3
    mixed_precision: bool = False        # bf16 autocast on CPU, fp16 autocast + grad scaling on CUDA
    grad_checkpointing: bool = False     # recompute each stage's activations in the backward pass
    freeze_vision: bool = False
    device: str = "cpu"
    seed: int = 0
    converge_fraction: float = 0.5       # converged when the loss (3-step mean) falls below this fraction of the first
    loss_threshold: Optional[float] = None


def loss_kind(build) -> str:
    kinds = {c.loop.kind for c in build.schedule if c.loop is not None}
    if "autoregressive" in kinds:
        return "token cross-entropy"
    if "euler" in kinds:
        return "flow matching (MSE on velocity)"
    if "ddim" in kinds:
        return "diffusion (MSE on noise)"
    return "L1 on actions"


class SyntheticDataset:
    """Observations drawn from the input specs (fixed seed) and target actions from a fixed random 'teacher':
    tanh of a linear map of per-input summary features, so that there is something to learn."""

    def __init__(self, build, size: int, seed: int, dims: dict[str, int]):
        self.specs = external_inputs(build.stages, build.schedule, loop_state=False)
        self.obs = make_inputs(self.specs, batch=size, seed=seed, dims=dims)
        feats = np.concatenate([v.reshape(size, -1).astype(np.float64).mean(axis=1, keepdims=True)
                                for v in self.obs.values()] + [np.ones((size, 1))], axis=1)
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
        shape = tuple(int(d) for d in build.action_shape[1:])
        teacher = np.random.default_rng(seed + 1).standard_normal((feats.shape[1], int(np.prod(shape))))
        self.actions = np.tanh(feats @ teacher / math.sqrt(feats.shape[1])).reshape(size, *shape).astype(np.float32)
        self.size = size

    def batch(self, index: int, batch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rows = [(index * batch + i) % self.size for i in range(batch)]
        return {k: v[rows] for k, v in self.obs.items()}, self.actions[rows]


class Trainer(ScheduleWalker):
    """The policy's own schedule, walked with the loss of its family at each loop (see loss())."""

    def __init__(self, build, cfg: TrainConfig):
        import torch

        super().__init__(build.stages, build.schedule)
        self.torch, self.build, self.cfg = torch, build, cfg
        self.stages = {s.name: s for s in build.stages}
        self.kind = loss_kind(build)
        self.params = []
        seen = set()
        for s in build.stages:
            s.module.to(cfg.device).train()
            for p in s.module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    self.params.append(p)
        self.frozen = self._freeze() if cfg.freeze_vision else 0
        trainable = [p for p in self.params if p.requires_grad]
        if cfg.optimizer == "adamw":
            self.opt = torch.optim.AdamW(trainable, lr=cfg.lr)
        elif cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(trainable, lr=cfg.lr, momentum=0.9)
        else:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
        cuda = cfg.device.startswith("cuda")
        self.amp_dtype = (torch.float16 if cuda else torch.bfloat16) if cfg.mixed_precision else None
        self.scaler = torch.amp.GradScaler("cuda") if cfg.mixed_precision and cuda else None
        self.gen = torch.Generator(device="cpu").manual_seed(cfg.seed)

    def _freeze(self) -> int:
        n = 0
        for s in self.build.stages:
            for name, m in s.module.named_modules():
                if type(m).__name__ in VISION_MODULES or name.split(".")[-1] in ("patch", "stem"):
                    for p in m.parameters():
                        if p.requires_grad:
                            p.requires_grad_(False)
                            n += p.numel()
        if n == 0:
            raise ConfigError("--freeze-vision: this preset has no vision encoder module to freeze")
        return n

    def call(self, stage: str, env: dict) -> dict:
        st = self.stages[stage]
        args = [env[t.name] for t in st.inputs]
        if self.cfg.grad_checkpointing:
            from torch.utils.checkpoint import checkpoint

            out = checkpoint(st.module, *args, use_reentrant=False)
        else:
            out = st.module(*args)
        out = out if isinstance(out, tuple) else (out,)
        return {o.name: v for o, v in zip(st.outputs, out)}

    def _rand(self, shape, kind="normal"):
        t = self.torch.randn(shape, generator=self.gen) if kind == "normal" else self.torch.rand(shape, generator=self.gen)
        return t.to(self.cfg.device)

    def loss(self, obs: dict, actions) -> "object":
        """Teacher-forced pass over the schedule: each loop adds its family's loss at one sampled point (flow matching:
        a random time; diffusion: a random step; tokens: every position); a loop-free policy gets L1 on actions."""
        torch = self.torch
        env = {k: torch.as_tensor(v, device=self.cfg.device) for k, v in obs.items()}
        self.actions, self.losses = torch.as_tensor(actions, device=self.cfg.device), []
        self.walk(env)
        if not self.losses:
            self.losses.append(torch.nn.functional.l1_loss(env[self.build.action_output].float(), self.actions))
        return torch.stack(self.losses).mean()

    def _broadcast(self, v):
        a = self.actions
        return v.view(a.shape[0], *([1] * (a.dim() - 1)))

    def euler(self, stage: str, loop, env: dict) -> None:
        """x_t = t * noise + (1 - t) * actions; the velocity target is noise - actions."""
        a = self.actions
        t, eps = self._rand((a.shape[0],), "uniform"), self._rand(a.shape)
        tt = self._broadcast(t)
        env[loop.state], env[loop.time] = tt * eps + (1 - tt) * a, t.to(getattr(self.torch, self.dtype(stage, loop.time)))
        self.losses.append(self.torch.nn.functional.mse_loss(self.call(stage, env)[loop.output].float(), eps - a))

    def ddim(self, stage: str, loop, env: dict) -> None:
        """x_k = sqrt(ab_k) actions + sqrt(1 - ab_k) noise; predict the noise."""
        torch, a = self.torch, self.actions
        ab = torch.as_tensor(cosine_alpha_bar(loop.steps), dtype=torch.float32, device=self.cfg.device)
        k = torch.randint(1, loop.steps + 1, (a.shape[0],), generator=self.gen).to(self.cfg.device)
        eps = self._rand(a.shape)
        abk = self._broadcast(ab[k])
        env[loop.state], env[loop.time] = abk.sqrt() * a + (1 - abk).sqrt() * eps, k.to(getattr(torch, self.dtype(stage, loop.time)))
        self.losses.append(torch.nn.functional.mse_loss(self.call(stage, env)[loop.output].float(), eps))

    def autoregressive(self, stage: str, loop, env: dict) -> None:
        """Teacher-forced action tokens through the decode step and its cache."""
        F, a = self.torch.nn.functional, self.actions
        b, bins = a.shape[0], loop.bins
        target = ((a.reshape(b, -1) + 1) / 2 * bins).long().clamp(0, bins - 1)
        logits = env[loop.output]
        vocab = logits.shape[-1]
        self.losses.append(F.cross_entropy(logits[:, vocab - bins:].float(), target[:, 0]))
        token_dtype = getattr(self.torch, self.dtype(stage, loop.state))
        for i in range(1, loop.steps):
            env[loop.state] = (target[:, i - 1] + vocab - bins).to(token_dtype)[:, None]
            out = self.call(stage, env)
            self.losses.append(F.cross_entropy(out[loop.output][:, vocab - bins:].float(), target[:, i]))
            for cache_in, cache_out in loop.cache:
                env[cache_in] = out[cache_out]

    def step(self, obs, actions) -> float:
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        ctx = torch.autocast(self.cfg.device.split(":")[0], dtype=self.amp_dtype) if self.amp_dtype else _null()
        with ctx:
            loss = self.loss(obs, actions)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        return float(loss.detach())

    def forward_flops(self, obs, actions) -> int:
        """Matrix FLOPs (2 x MACs) of one training forward, counted by torch's FlopCounterMode."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:  # not under no_grad: its module tracker needs autograd
            self.loss(obs, actions)
        return int(counter.get_total_flops())

    def sync(self) -> None:
        if self.cfg.device.startswith("cuda"):
            self.torch.cuda.synchronize()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def converged_at(losses: list[float], times_s: list[float], fraction: float, threshold: Optional[float]
                 ) -> tuple[Optional[int], Optional[float], float]:
    """(step, wall seconds) at which the loss, averaged over the last three steps so that one lucky batch does not
    count, first falls below the target: `threshold`, else `fraction` x the first step's loss."""
    target = threshold if threshold is not None else fraction * losses[0]
    for i in range(2, len(losses)):
        if sum(losses[i - 2:i + 1]) / 3 <= target:
            return i + 1, float(sum(times_s[: i + 1])), target
    return None, None, target


def with_mfu(result: TrainResult, target) -> TrainResult:
    """Model FLOPs utilisation against the target's dense peak at the training precision."""
    import dataclasses

    peak = target.peak("fp16" if result.mixed_precision else "fp32")
    return dataclasses.replace(result, mfu=result.achieved_tflops / peak, mfu_target=target.name)


def train_bench(preset_name: str, cfg: TrainConfig, say: Callable[[str], None] = lambda m: None) -> TrainResult:
    import torch

    from .vla import build_stages, count_parameters

    if cfg.steps <= cfg.warmup_steps:
        raise ConfigError(f"--steps ({cfg.steps}) must exceed --warmup-steps ({cfg.warmup_steps})")
    if cfg.batch < 1 or cfg.dataset_size < cfg.batch:
        raise ConfigError("--batch must be >= 1 and --dataset-size >= --batch")
    preset = load_preset(preset_name)
    torch.manual_seed(cfg.seed)
    rss_before = current_rss_bytes()
    build = build_stages(preset, device="cpu")
    data = SyntheticDataset(build, cfg.dataset_size, cfg.seed, dict(build.default_dims))
    trainer = Trainer(build, cfg)
    if cfg.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    say(f"counting training FLOPs ({trainer.kind})")
    obs0, act0 = data.batch(0, cfg.batch)
    fwd = trainer.forward_flops(obs0, act0)
    losses, times = [], []
    say(f"training {cfg.steps} steps at batch {cfg.batch}")
    with MemorySampler() as mem:
        for i in range(cfg.steps):
            obs, act = data.batch(i, cfg.batch)
            t0 = time.perf_counter_ns()
            loss = trainer.step(obs, act)
            trainer.sync()
            times.append((time.perf_counter_ns() - t0) / 1e9)
            if not math.isfinite(loss):
                raise ConfigError(f"the loss became {loss} at step {i + 1}; lower --lr")
            losses.append(loss)
    timed = times[cfg.warmup_steps:]
    stats = compute_stats([t * 1e3 for t in timed])
    sps = len(timed) * cfg.batch / sum(timed)
    step, wall, target = converged_at(losses, times, cfg.converge_fraction, cfg.loss_threshold)
    train_flops = 3 * fwd
    achieved = train_flops / (stats.p50_ms / 1e3) / 1e12
    total = sum(count_parameters(preset).values())
    return TrainResult(
        preset=preset_name, family=preset.family, loss=trainer.kind, device=cfg.device, batch=cfg.batch,
        optimizer=cfg.optimizer, lr=cfg.lr, mixed_precision=("bf16" if not cfg.device.startswith("cuda") else "fp16")
        if cfg.mixed_precision else None, grad_checkpointing=cfg.grad_checkpointing, frozen_params=trainer.frozen,
        params=total, trainable_params=sum(p.numel() for p in trainer.params if p.requires_grad),
        steps=cfg.steps, warmup_steps=cfg.warmup_steps, step_time=stats, samples_per_s=sps,
        dataset_size=cfg.dataset_size, epoch_s=cfg.dataset_size / sps, loss_curve=tuple(losses),
        converge_target=target, converged_step=step, converged_s=wall, forward_flops_per_step=fwd,
        train_flops_per_step=train_flops, achieved_tflops=achieved,
        mfu=None, mfu_target=None,
        # VmHWM and the sampled RSS are kernel counters that may lag each other by a few pages: a peak is never
        # below a reading taken earlier in the same process.
        host_peak_rss_bytes=max(peak_rss_bytes(), mem.rss_peak, rss_before), host_rss_before_bytes=rss_before,
        device_peak_bytes=int(torch.cuda.max_memory_allocated()) if cfg.device.startswith("cuda") else None,
        seed=cfg.seed)
