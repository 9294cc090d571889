"""A LeRobot policy as the zoo's staged form: the graphs take raw observations (robot units; images as LeRobot's
datasets give them, float in [0, 1], channels first) and return robot-unit actions, the normalisation and
unnormalisation being the checkpoint's own processor steps traced into them. One builder per policy type."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..manifest import CallSpec, LoopSpec, SchedulerSpec
from ..registry import Registry
from ..vla.common import FamilyBuild, StageModule, spec
from .checkpoint import Checkpoint

POLICY_TYPES: Registry = Registry("LeRobot policy type")


class _Normalize(nn.Module):
    """Observations through the checkpoint's NormalizerProcessorStep, keyed as LeRobot keys them."""

    def __init__(self, ck: Checkpoint):
        super().__init__()
        self.step, self.features = ck.normalizer, ck.policy.config.input_features

    def forward(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return self.step._apply_transform(x, key, self.features[key].type)


def _unnormalize(ck: Checkpoint, actions: torch.Tensor) -> torch.Tensor:
    from lerobot.configs.types import FeatureType
    from lerobot.utils.constants import ACTION

    return ck.unnormalizer._apply_transform(actions, ACTION, FeatureType.ACTION, inverse=True)


def _observation_specs(ck: Checkpoint, frames: tuple = (), batch="batch") -> tuple[list[str], list]:
    """LeRobot's input keys in its order, and a TensorSpec each ((batch, *frames, *shape)); images in [0, 1]."""
    from lerobot.configs.types import FeatureType

    keys, specs = [], []
    for key, feature in ck.policy.config.input_features.items():
        shape = (batch, *frames, *feature.shape)
        if feature.type == FeatureType.VISUAL:
            specs.append(spec(key, shape, "uniform", 0.0, 1.0, role="image"))
        elif feature.type in (FeatureType.STATE, FeatureType.ENV):
            specs.append(spec(key, shape, role="state"))
        else:
            raise ConfigError(f"{ck.folder}: input {key!r} is of type {feature.type.name}; supported: images, state")
        keys.append(key)
    return keys, specs


def _action_dim(ck: Checkpoint) -> int:
    return int(ck.policy.config.output_features["action"].shape[0])


class _ActChunk(nn.Module):
    def __init__(self, ck: Checkpoint, keys: list[str]):
        super().__init__()
        self.ck, self.keys, self.norm = ck, keys, _Normalize(ck)
        self.policy = ck.policy

    def forward(self, *observations: torch.Tensor) -> torch.Tensor:
        batch = {k: self.norm(k, x) for k, x in zip(self.keys, observations)}
        return _unnormalize(self.ck, self.policy.predict_action_chunk(batch))


def build_act(ck: Checkpoint, task: str = "") -> FamilyBuild:
    """ACT in one pass: observations -> the whole action chunk (select_action serves it one action at a time). No
    language input: `task` is not used."""
    cfg = ck.policy.config
    if cfg.temporal_ensemble_coeff is not None:
        raise ConfigError(f"{ck.folder}: ACT with temporal ensembling mixes chunks across calls in select_action; "
                          "export a checkpoint with temporal_ensemble_coeff null")
    keys, inputs = _observation_specs(ck)
    action = spec("action", ("batch", cfg.chunk_size, _action_dim(ck)), role="action")
    stage = StageModule("policy", _ActChunk(ck, keys), tuple(inputs), (action,))
    return FamilyBuild([stage], (CallSpec("policy"),), "action", action.shape)


class _DiffusionEncoder(nn.Module):
    def __init__(self, ck: Checkpoint, keys: list[str]):
        super().__init__()
        self.keys, self.norm, self.diffusion = keys, _Normalize(ck), ck.policy.diffusion
        self.images = list(ck.policy.config.image_features)

    def forward(self, *observations: torch.Tensor) -> torch.Tensor:
        from lerobot.utils.constants import OBS_IMAGES

        batch = {k: self.norm(k, x) for k, x in zip(self.keys, observations)}
        if self.images:
            batch[OBS_IMAGES] = torch.stack([batch.pop(k) for k in self.images], dim=-4)
        return self.diffusion._prepare_global_conditioning(batch)


class _DiffusionStep(nn.Module):
    def __init__(self, ck: Checkpoint):
        super().__init__()
        self.unet = ck.policy.diffusion.unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, global_cond: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, global_cond=global_cond)


class _DiffusionActions(nn.Module):
    """The executed part of the horizon (from the current observation on), in robot units."""

    def __init__(self, ck: Checkpoint):
        super().__init__()
        cfg = ck.policy.config
        self.ck, self.start, self.end = ck, cfg.n_obs_steps - 1, cfg.n_obs_steps - 1 + cfg.n_action_steps

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return _unnormalize(self.ck, sample[:, self.start:self.end])


def scheduler_spec(model) -> SchedulerSpec:
    """The scheduler exactly as DiffusionModel.conditional_sample runs it: set_timesteps(num_inference_steps), then
    each timestep's alpha_bar and the one after it (DDPM's previous_timestep; DDIM's final alpha at the end)."""
    s = model.noise_scheduler
    kind = type(s).__name__.replace("Scheduler", "")
    c = s.config
    if kind not in ("DDPM", "DDIM") or c.prediction_type not in ("epsilon", "sample") or c.get("thresholding") \
            or (kind == "DDPM" and c.variance_type != "fixed_small"):
        raise ConfigError(f"the noise scheduler ({type(s).__name__}, prediction {c.prediction_type}) is not one the "
                          "export reproduces: DDPM (fixed_small variance) or DDIM, epsilon or sample prediction")
    s.set_timesteps(model.num_inference_steps)
    timesteps = [int(t) for t in s.timesteps]
    ab = s.alphas_cumprod.double()
    if kind == "DDPM":   # the next timestep of the list, -1 after the last (scheduling_ddpm.previous_timestep)
        before = [int(s.previous_timestep(t)) for t in s.timesteps]
    else:                # t - T / N (scheduling_ddim.step)
        before = [t - c.num_train_timesteps // s.num_inference_steps for t in timesteps]
    final = float(s.final_alpha_cumprod) if kind == "DDIM" else 1.0
    prev = [float(ab[p]) if p >= 0 else final for p in before]
    return SchedulerSpec(kind, tuple(timesteps), tuple(float(ab[t]) for t in timesteps), tuple(prev),
                         c.prediction_type, float(c.clip_sample_range) if c.clip_sample else None)


def build_diffusion(ck: Checkpoint, task: str = "") -> FamilyBuild:
    """Diffusion Policy: observation encoder, one UNet denoising step (called once per scheduler timestep), and the
    executed actions unnormalised; the scheduler's own numbers in the manifest's loop. No language input."""
    cfg = ck.policy.config
    keys, inputs = _observation_specs(ck, (cfg.n_obs_steps,))
    with torch.no_grad():   # the conditioning width, as the encoder makes it
        cond_dim = _DiffusionEncoder(ck, keys)(*(torch.zeros((1, *s.shape[1:])) for s in inputs)).shape[-1]
    cond = spec("global_cond", ("batch", cond_dim))
    sample = spec("sample", ("batch", cfg.horizon, _action_dim(ck)), role="noise")
    timestep = spec("timestep", ("batch",), "int", 0, cfg.num_train_timesteps, dtype="int64")
    out = spec("model_output", ("batch", cfg.horizon, _action_dim(ck)))
    action = spec("action", ("batch", cfg.n_action_steps, _action_dim(ck)), role="action")
    sched = scheduler_spec(ck.policy.diffusion)
    stages = [StageModule("encoder", _DiffusionEncoder(ck, keys), tuple(inputs), (cond,)),
              StageModule("denoise", _DiffusionStep(ck), (sample, timestep, cond), (out,)),
              StageModule("actions", _DiffusionActions(ck), (sample,), (action,))]
    loop = LoopSpec("diffusers", len(sched.timesteps), state="sample", output="model_output", time="timestep",
                    scheduler=sched)
    schedule = (CallSpec("encoder"), CallSpec("denoise", repeat=loop.steps, loop=loop), CallSpec("actions"))
    return FamilyBuild(stages, schedule, "action", action.shape)


POLICY_TYPES.add("act", build_act)
POLICY_TYPES.add("diffusion", build_diffusion)


class _SmolPrefix(nn.Module):
    """Observations (normalised, images resized and padded as SmolVLA does) and the prompt tokenised at export ->
    the prefix's padding mask and every VLM layer's key and value cache."""

    def __init__(self, ck: Checkpoint, keys: list[str], tokens: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.ck, self.keys, self.norm, self.policy = ck, keys, _Normalize(ck), ck.policy
        self.register_buffer("tokens", tokens)
        self.register_buffer("mask", mask)

    def forward(self, *observations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from lerobot.policies.smolvla.modeling_smolvla import make_att_2d_masks

        batch = {k: self.norm(k, x) for k, x in zip(self.keys, observations)}
        images, img_masks = self.policy.prepare_images(batch)
        state = self.policy.prepare_state(batch)
        b, model = state.shape[0], self.policy.model
        tokens, mask = self.tokens.expand(b, -1), self.mask.expand(b, -1)
        embs, pad, att = model.embed_prefix(images, img_masks, tokens, mask, state=state)
        _, cache = model.vlm_with_expert.forward(attention_mask=make_att_2d_masks(pad, att),
                                                 position_ids=torch.cumsum(pad, dim=1) - 1, past_key_values=None,
                                                 inputs_embeds=[embs, None], use_cache=True, fill_kv_cache=True)
        return (pad, *(cache[i][n] for i in sorted(cache) for n in ("key_states", "value_states")))


class _SmolDenoise(nn.Module):
    """One flow-matching step of the action expert over the cached prefix."""

    def __init__(self, ck: Checkpoint):
        super().__init__()
        self.model = ck.policy.model

    def forward(self, x_t: torch.Tensor, timestep: torch.Tensor, prefix_pad_masks: torch.Tensor,
                *cache: torch.Tensor) -> torch.Tensor:
        past = {i: {"key_states": cache[2 * i], "value_states": cache[2 * i + 1]} for i in range(len(cache) // 2)}
        return self.model.denoise_step(prefix_pad_masks, past, x_t, timestep)


class _SmolActions(nn.Module):
    def __init__(self, ck: Checkpoint):
        super().__init__()
        self.ck, self.dim = ck, _action_dim(ck)

    def forward(self, x_t: torch.Tensor) -> torch.Tensor:
        return _unnormalize(self.ck, x_t[:, :, :self.dim])


# SmolVLM's vision embeddings loop over the batch in Python, which torch.export specialises: SmolVLA is exported at
# batch 1 (the manifest's notes say so; --batch other than 1 is refused).
SMOLVLA_BATCH_NOTE = ("batch: fixed at 1 (SmolVLM's vision embeddings loop over the batch in Python, which the "
                      "exporter specialises)")


def build_smolvla(ck: Checkpoint, task: str = "") -> FamilyBuild:
    """SmolVLA: prefix (vision + language + state, the VLM's KV cache) once, the action expert's flow-matching step
    num_steps times (Euler, time 1 -> 0, as sample_actions), the chunk unpadded and unnormalised. Batch 1."""
    from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS

    cfg = ck.policy.config
    if cfg.adapt_to_pi_aloha:
        raise ConfigError(f"{ck.folder}: adapt_to_pi_aloha flips joints in Python around the network; not exported")
    keys, inputs = _observation_specs(ck, batch=1)
    # The prompt, tokenised once by the checkpoint's own tokenizer step: a constant of the prefix graph.
    zeros = {s.name: torch.zeros((1, *s.shape[1:])) for s in inputs}
    batch = ck.pre({**zeros, "task": [task]})
    tokens, mask = batch[OBS_LANGUAGE_TOKENS].long(), batch[OBS_LANGUAGE_ATTENTION_MASK].bool()
    prefix = _SmolPrefix(ck, keys, tokens, mask)
    with torch.no_grad():
        outs = prefix(*(batch[k] for k in keys))
    pad = spec("prefix_pad_masks", tuple(outs[0].shape), "ones", dtype="bool")
    cache = [spec(f"{n}_{i // 2}", tuple(t.shape)) for i, (t, n) in
             enumerate(zip(outs[1:], ("key", "value") * (len(outs) // 2)))]
    x_t = spec("x_t", (1, cfg.chunk_size, cfg.max_action_dim), role="noise")
    timestep = spec("timestep", (1,), "uniform", 0.0, 1.0)
    v_t = spec("v_t", (1, cfg.chunk_size, cfg.max_action_dim))
    action = spec("action", (1, cfg.chunk_size, _action_dim(ck)), role="action")
    stages = [StageModule("prefix", prefix, tuple(inputs), (pad, *cache)),
              StageModule("denoise", _SmolDenoise(ck), (x_t, timestep, pad, *cache), (v_t,)),
              StageModule("actions", _SmolActions(ck), (x_t,), (action,))]
    loop = LoopSpec("euler", cfg.num_steps, state="x_t", output="v_t", time="timestep")
    schedule = (CallSpec("prefix"), CallSpec("denoise", repeat=cfg.num_steps, loop=loop), CallSpec("actions"))
    return FamilyBuild(stages, schedule, "action", action.shape)


POLICY_TYPES.add("smolvla", build_smolvla)
