"""GR00T-N1-like: pixel-shuffled vision, a truncated LLM whose hidden states condition a DiT action head
(alternating cross-attention to those features and self-attention, AdaLN on the flow time) over state + future
+ action tokens, 4 flow steps."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import attend, merge_heads, split_heads, timestep_embedding
from .common import FamilyBuild, StageModule, spec, vision_stage
from .openvla import LlamaTrunk
from .pi0 import flow_expert_stage, flow_schedule


class Backbone(nn.Module):
    def __init__(self, t: dict):
        super().__init__()
        self.trunk = LlamaTrunk(t, causal=False)

    def forward(self, image_tokens, prompt_ids):
        x = torch.cat([image_tokens, self.trunk.embed(prompt_ids)], dim=1)
        return self.trunk.run(x, torch.arange(x.shape[1], device=x.device))[0]


class DiTBlock(nn.Module):
    """AdaLN-modulated block: cross-attention to the VLM features (even blocks) or self-attention (odd)."""

    def __init__(self, width: int, ctx_width: int, heads: int, mlp: int, cross: bool):
        super().__init__()
        self.heads, self.cross = heads, cross
        self.ada = nn.Linear(width, 4 * width)
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(ctx_width if cross else width, 2 * width)
        self.o = nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, mlp), nn.Linear(mlp, width)

    def forward(self, x, temb, ctx):
        s1, b1, s2, b2 = self.ada(temb)[:, None, :].chunk(4, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        k, v = self.kv(ctx if self.cross else h).chunk(2, dim=-1)
        d = x.shape[-1] // self.heads
        a = attend(split_heads(self.q(h), self.heads, d), split_heads(k, self.heads, d), split_heads(v, self.heads, d))
        x = x + self.o(merge_heads(a))
        h = self.norm2(x) * (1 + s2) + b2
        return x + self.fc2(nn.functional.gelu(self.fc1(h), approximate="tanh"))


class DiT(nn.Module):
    def __init__(self, t: dict, d: dict, a: dict):
        super().__init__()
        w = d["width"]
        self.width = w
        self.state_proj = nn.Linear(a["state_dim"], w)
        self.action_in = nn.Linear(a["dim"], w)
        self.future = nn.Parameter(torch.zeros(1, a["future_tokens"], w))
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(DiTBlock(w, t["width"], d["heads"], d["mlp"], cross=i % 2 == 0) for i in range(d["layers"]))
        self.norm = nn.LayerNorm(w)
        self.action_out = nn.Linear(w, a["dim"])

    def forward(self, x_t, t, state, features):
        b, chunk = x_t.shape[0], x_t.shape[1]
        temb = self.time_mlp(timestep_embedding(t, self.width))
        x = torch.cat([self.state_proj(state)[:, None, :], self.future.expand(b, -1, -1), self.action_in(x_t)], dim=1)
        for blk in self.blocks:
            x = blk(x, temb, features)
        return self.action_out(self.norm(x[:, -chunk:]))


def build(cfg: dict) -> FamilyBuild:
    t, a = cfg["trunk"], cfg["action"]
    vision, n_img = vision_stage(cfg, t["width"], shuffle=cfg["vision"]["shuffle"])
    feats = spec("features", ("batch", n_img + cfg["prompt_tokens"], t["width"]))
    backbone = StageModule("backbone", Backbone(t),
                           (vision.outputs[0], spec("prompt_ids", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"], "int64")),
                           (feats,))
    dit = flow_expert_stage("dit", DiT(t, cfg["dit"], a), a, (feats,))
    return FamilyBuild([vision, backbone, dit], flow_schedule(("vision", "backbone"), "dit", a["steps"]),
                       "x_t", ("batch", a["chunk"], a["dim"]))
