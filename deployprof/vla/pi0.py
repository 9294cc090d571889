"""pi0: SigLIP-like vision, Gemma-like MQA trunk whose prefix KV cache is computed once, and a flow-matching
action expert whose suffix (state + noisy chunk) attends to that cache, called `steps` times (Euler)."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..manifest import CallSpec, LoopSpec
from .blocks import DecoderLayer, RMSNorm, timestep_embedding
from .common import FamilyBuild, StageModule, spec, vision_stage


class Prefix(nn.Module):
    """Gemma-like trunk over [image tokens; prompt]: bidirectional prefix, returns the KV cache per layer."""

    def __init__(self, t: dict):
        super().__init__()
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


class Denoise(nn.Module):
    """Action expert: state token + noisy action chunk attend to the prefix KV cache; predicts velocity."""

    def __init__(self, t: dict, e: dict, a: dict):
        super().__init__()
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
        act = self.time_mlp_out(nn.functional.silu(self.time_mlp_in(torch.cat([self.action_in(x_t), temb], dim=-1))))
        x = torch.cat([self.state_proj(state)[:, None, :], act], dim=1)
        positions = torch.arange(x.shape[1], device=x.device) + kv_k.shape[3]
        for i, layer in enumerate(self.layers):
            x, _, _ = layer(x, positions, kv_k[i], kv_v[i])
        return self.action_out(self.norm(x[:, 1:]))


def kv_specs(t: dict, seq) -> tuple:
    shape = (t["layers"], "batch", t["kv_heads"], seq, t["head_dim"])
    return spec("kv_k", shape, role="kv_cache"), spec("kv_v", shape, role="kv_cache")


def flow_expert_stage(name: str, module: nn.Module, a: dict, ctx_inputs: tuple) -> StageModule:
    ins = (spec("x_t", ("batch", a["chunk"], a["dim"])), spec("t", ("batch",), "uniform", 0.0, 1.0),
           spec("state", ("batch", a["state_dim"]))) + ctx_inputs
    return StageModule(name, module, ins, (spec("velocity", ("batch", a["chunk"], a["dim"]), role="action_velocity"),))


def flow_schedule(stages: tuple[str, ...], expert: str, steps: int) -> tuple[CallSpec, ...]:
    loop = LoopSpec(kind="euler", steps=steps, state="x_t", output="velocity", time="t")
    return tuple(CallSpec(s) for s in stages) + (CallSpec(expert, repeat=steps, loop=loop),)


def build(cfg: dict) -> FamilyBuild:
    t, a = cfg["trunk"], cfg["action"]
    vision, n_img = vision_stage(cfg, t["width"])
    kv_k, kv_v = kv_specs(t, n_img + cfg["prompt_tokens"])
    prefix = StageModule("prefix", Prefix(t),
                         (vision.outputs[0], spec("prompt_ids", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"], "int64")),
                         (kv_k, kv_v))
    denoise = flow_expert_stage("denoise", Denoise(t, cfg["expert"], a), a, (kv_k, kv_v))
    return FamilyBuild([vision, prefix, denoise], flow_schedule(("vision", "prefix"), "denoise", a["steps"]),
                       "x_t", ("batch", a["chunk"], a["dim"]))
