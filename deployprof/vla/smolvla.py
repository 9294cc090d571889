"""SmolVLA: pixel-shuffled SigLIP-like vision, a truncated SmolLM2 trunk (GQA) producing a prefix KV cache, and
a flow-matching expert whose layers alternate self-attention (over its own tokens) and cross-attention to the
trunk's keys/values of the same layer, projected to the expert's width."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import DecoderLayer, RMSNorm, attend, merge_heads, split_heads, timestep_embedding
from .common import FamilyBuild, StageModule, spec, vision_stage
from .pi0 import Prefix, flow_expert_stage, flow_schedule, kv_specs


class KVCrossLayer(nn.Module):
    """Cross-attention of expert tokens to a trunk layer's cached K/V (re-projected), then an MLP."""

    def __init__(self, width: int, kv_width: int, heads: int, head_dim: int, mlp: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.norm1, self.norm2 = RMSNorm(width), RMSNorm(width)
        self.q = nn.Linear(width, heads * head_dim, bias=False)
        self.k = nn.Linear(kv_width, heads * head_dim, bias=False)
        self.v = nn.Linear(kv_width, heads * head_dim, bias=False)
        self.o = nn.Linear(heads * head_dim, width, bias=False)
        self.gate, self.up = nn.Linear(width, mlp, bias=False), nn.Linear(width, mlp, bias=False)
        self.down = nn.Linear(mlp, width, bias=False)

    def forward(self, x, cache_k, cache_v):
        h = self.norm1(x)
        q = split_heads(self.q(h), self.heads, self.head_dim)
        k = split_heads(self.k(merge_heads(cache_k)), self.heads, self.head_dim)
        v = split_heads(self.v(merge_heads(cache_v)), self.heads, self.head_dim)
        x = x + self.o(merge_heads(attend(q, k, v)))
        h = self.norm2(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


class Expert(nn.Module):
    def __init__(self, t: dict, e: dict, a: dict):
        super().__init__()
        self.width = e["width"]
        self.state_proj = nn.Linear(a["state_dim"], e["width"])
        self.action_in = nn.Linear(a["dim"], e["width"])
        self.time_mlp = nn.Sequential(nn.Linear(2 * e["width"], e["width"]), nn.SiLU(), nn.Linear(e["width"], e["width"]))
        kv_width = t["kv_heads"] * t["head_dim"]
        self.layers = nn.ModuleList(
            DecoderLayer(e["width"], e["heads"], e["heads"], e["head_dim"], e["mlp"], act="silu") if i % 2 == 0
            else KVCrossLayer(e["width"], kv_width, e["heads"], e["head_dim"], e["mlp"]) for i in range(t["layers"]))
        self.norm = RMSNorm(e["width"])
        self.action_out = nn.Linear(e["width"], a["dim"])

    def forward(self, x_t, t, state, kv_k, kv_v):
        chunk = x_t.shape[1]
        temb = timestep_embedding(t, self.width)[:, None, :].expand(-1, chunk, -1)
        act = self.time_mlp(torch.cat([self.action_in(x_t), temb], dim=-1))
        x = torch.cat([self.state_proj(state)[:, None, :], act], dim=1)
        positions = torch.arange(x.shape[1], device=x.device)
        for i, layer in enumerate(self.layers):
            x = layer(x, positions)[0] if i % 2 == 0 else layer(x, kv_k[i], kv_v[i])
        return self.action_out(self.norm(x[:, 1:]))


def build(cfg: dict) -> FamilyBuild:
    t, a = cfg["trunk"], cfg["action"]
    vision, n_img = vision_stage(cfg, t["width"], shuffle=cfg["vision"]["shuffle"])
    kv_k, kv_v = kv_specs(t, n_img + cfg["prompt_tokens"])
    prefix = StageModule("prefix", Prefix(t),
                         (vision.outputs[0], spec("prompt_ids", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"], "int64")),
                         (kv_k, kv_v))
    expert = flow_expert_stage("expert", Expert(t, cfg["expert"], a), a, (kv_k, kv_v))
    return FamilyBuild([vision, prefix, expert], flow_schedule(("vision", "prefix"), "expert", a["steps"]),
                       "x_t", ("batch", a["chunk"], a["dim"]))
