"""Family assemblies: each returns its stages as modules with tensor specs, and the policy-step schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..manifest import CallSpec, LoopSpec, TensorSpec
from ..presets import Preset
from .blocks import DecoderLayer, RMSNorm, VisionEncoder, timestep_embedding


@dataclass
class StageModule:
    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batch_axes: dict[str, int]  # which axis of each tensor is the batch


class Pi0Vision(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vision"]
        self.encoder = VisionEncoder(v["image_size"], v["patch_size"], v["width"], v["layers"], v["heads"], v["mlp"], cfg["trunk"]["width"])

    def forward(self, images):  # [B, cams, 3, H, W] -> [B, cams * patches, trunk width]
        b, c = images.shape[0], images.shape[1]
        tokens = self.encoder(images.reshape(b * c, *images.shape[2:]))
        return tokens.reshape(b, c * tokens.shape[1], tokens.shape[2])


class Pi0Prefix(nn.Module):
    """Gemma-like trunk over [image tokens; prompt]: bidirectional prefix, returns the KV cache per layer."""

    def __init__(self, cfg):
        super().__init__()
        t = cfg["trunk"]
        self.width = t["width"]
        self.embed = nn.Embedding(t["vocab"], t["width"])
        self.layers = nn.ModuleList(DecoderLayer(t["width"], t["heads"], t["kv_heads"], t["head_dim"], t["mlp"]) for _ in range(t["layers"]))

    def forward(self, image_tokens, prompt_ids):
        x = torch.cat([image_tokens, self.embed(prompt_ids) * math.sqrt(self.width)], dim=1)
        positions = torch.arange(x.shape[1], device=x.device)
        ks, vs = [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, positions, kv_only=i == len(self.layers) - 1)
            ks.append(k)
            vs.append(v)
        return torch.stack(ks), torch.stack(vs)  # [L, B, Hkv, S, D]


class Pi0Denoise(nn.Module):
    """Action expert: state token + noisy action chunk attend to the prefix KV cache; predicts velocity."""

    def __init__(self, cfg):
        super().__init__()
        t, e, a = cfg["trunk"], cfg["expert"], cfg["action"]
        self.width = e["width"]
        self.state_proj = nn.Linear(a["state_dim"], e["width"])
        self.action_in = nn.Linear(a["dim"], e["width"])
        self.time_mlp_in = nn.Linear(2 * e["width"], e["width"])
        self.time_mlp_out = nn.Linear(e["width"], e["width"])
        self.layers = nn.ModuleList(DecoderLayer(e["width"], t["heads"], t["kv_heads"], t["head_dim"], e["mlp"]) for _ in range(t["layers"]))
        self.norm = RMSNorm(e["width"])
        self.action_out = nn.Linear(e["width"], a["dim"])

    def forward(self, x_t, t, state, kv_k, kv_v):
        chunk = x_t.shape[1]
        temb = timestep_embedding(t, self.width)[:, None, :].expand(-1, chunk, -1)
        act = self.time_mlp_in(torch.cat([self.action_in(x_t), temb], dim=-1))
        act = self.time_mlp_out(nn.functional.silu(act))
        x = torch.cat([self.state_proj(state)[:, None, :], act], dim=1)
        prefix_len = kv_k.shape[3]
        positions = torch.arange(x.shape[1], device=x.device) + prefix_len
        for i, layer in enumerate(self.layers):
            x, _, _ = layer(x, positions, kv_k[i], kv_v[i])
        return self.action_out(self.norm(x[:, 1:]))


def _pi0(preset: Preset) -> tuple[list[StageModule], tuple[CallSpec, ...], str, tuple]:
    cfg = preset.config
    v, t, a = cfg["vision"], cfg["trunk"], cfg["action"]
    cams, patches = cfg["cameras"], (v["image_size"] // v["patch_size"]) ** 2
    s_prefix = cams * patches + cfg["prompt_tokens"]
    kv_shape = (t["layers"], "batch", t["kv_heads"], s_prefix, t["head_dim"])
    f32 = "float32"
    img_tokens = TensorSpec("image_tokens", f32, ("batch", cams * patches, t["width"]))
    kv_k = TensorSpec("kv_k", f32, kv_shape, role="kv_cache")
    kv_v = TensorSpec("kv_v", f32, kv_shape, role="kv_cache")
    stages = [
        StageModule("vision", Pi0Vision(cfg),
                    (TensorSpec("images", f32, ("batch", cams, 3, v["image_size"], v["image_size"]), "uniform", -1.0, 1.0, role="image"),),
                    (img_tokens,), {"images": 0, "image_tokens": 0}),
        StageModule("prefix", Pi0Prefix(cfg),
                    (img_tokens, TensorSpec("prompt_ids", "int64", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"])),
                    (kv_k, kv_v), {"image_tokens": 0, "prompt_ids": 0, "kv_k": 1, "kv_v": 1}),
        StageModule("denoise", Pi0Denoise(cfg),
                    (TensorSpec("x_t", f32, ("batch", a["chunk"], a["dim"])),
                     TensorSpec("t", f32, ("batch",), "uniform", 0.0, 1.0),
                     TensorSpec("state", f32, ("batch", a["state_dim"])), kv_k, kv_v),
                    (TensorSpec("velocity", f32, ("batch", a["chunk"], a["dim"]), role="action_velocity"),),
                    {"x_t": 0, "t": 0, "state": 0, "kv_k": 1, "kv_v": 1, "velocity": 0}),
    ]
    loop = LoopSpec(kind="euler", steps=a["steps"], state="x_t", time="t", derivative="velocity")
    schedule = (CallSpec("vision"), CallSpec("prefix"), CallSpec("denoise", repeat=a["steps"], loop=loop))
    return stages, schedule, "x_t", ("batch", a["chunk"], a["dim"])


FAMILY_BUILDERS = {"pi0": _pi0}


def build_stages(preset: Preset, device: str = "cpu"):
    """Seeded construction: the same preset always gives the same weights (export and torch backend agree)."""
    torch.manual_seed(int(preset.config["seed"]))
    with torch.device(device):
        stages, schedule, action_output, action_shape = FAMILY_BUILDERS[preset.family](preset)
    for s in stages:
        s.module.eval()
    return stages, schedule, action_output, action_shape


def count_parameters(preset: Preset) -> dict[str, int]:
    """Per-stage parameter counts on the meta device: no memory, works for full-size presets."""
    stages, *_ = build_stages(preset, device="meta")
    return {s.name: sum(p.numel() for p in s.module.parameters()) for s in stages}
