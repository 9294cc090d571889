"""ACT: a ResNet-18 backbone on each camera, a transformer encoder over the image features + latent + joint
state, and a decoder whose `chunk` queries produce the whole action chunk in one pass (CVAE decoder at
inference: the latent is zero)."""
from __future__ import annotations

import torch
from torch import nn

from ..manifest import CallSpec
from .blocks import ViTBlock, attend, merge_heads, split_heads
from .common import FamilyBuild, StageModule, image_spec, spec


class DetrDecoderLayer(nn.Module):
    """Post-norm DETR decoder layer: query self-attention, cross-attention to the encoder memory, FFN."""

    def __init__(self, w: int, heads: int, ff: int):
        super().__init__()
        self.heads = heads
        self.self_qkv, self.self_o = nn.Linear(w, 3 * w), nn.Linear(w, w)
        self.cross_q, self.cross_kv, self.cross_o = nn.Linear(w, w), nn.Linear(w, 2 * w), nn.Linear(w, w)
        self.n1, self.n2, self.n3 = nn.LayerNorm(w), nn.LayerNorm(w), nn.LayerNorm(w)
        self.fc1, self.fc2 = nn.Linear(w, ff), nn.Linear(ff, w)

    def forward(self, q, mem):
        d = q.shape[-1] // self.heads
        sq, sk, sv = self.self_qkv(q).chunk(3, dim=-1)
        q = self.n1(q + self.self_o(merge_heads(attend(*(split_heads(t, self.heads, d) for t in (sq, sk, sv))))))
        ck, cv = self.cross_kv(mem).chunk(2, dim=-1)
        a = attend(split_heads(self.cross_q(q), self.heads, d), split_heads(ck, self.heads, d), split_heads(cv, self.heads, d))
        q = self.n2(q + self.cross_o(merge_heads(a)))
        return self.n3(q + self.fc2(torch.relu(self.fc1(q))))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.down(x))


class ResNet18(nn.Module):
    """ResNet-18's layout (stem, 4 stages x 2 basic blocks) with base width `w` (64 in the original)."""

    def __init__(self, w: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        chans = [w, w, 2 * w, 4 * w, 8 * w]
        self.stages = nn.Sequential(*[nn.Sequential(BasicBlock(chans[i], chans[i + 1], 1 if i == 0 else 2),
                                                    BasicBlock(chans[i + 1], chans[i + 1], 1)) for i in range(4)])

    def forward(self, x):
        return self.stages(self.stem(x))


class ActPolicy(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        b, t, a = cfg["backbone"], cfg["transformer"], cfg["action"]
        w = t["width"]
        self.chunk = a["chunk"]
        self.backbone = ResNet18(b["width"])
        self.feat_proj = nn.Conv2d(8 * b["width"], w, 1)
        h, wd = cfg["image_height"], cfg["image_width"]
        self.pos = nn.Parameter(torch.zeros(1, cfg["cameras"] * ((h + 31) // 32) * ((wd + 31) // 32) + 2, w))
        self.state_proj = nn.Linear(a["state_dim"], w)
        self.latent_proj = nn.Linear(cfg["latent_dim"], w)
        self.latent_dim = cfg["latent_dim"]
        self.encoder = nn.ModuleList(ViTBlock(w, t["heads"], t["ff"]) for _ in range(t["enc_layers"]))
        self.queries = nn.Parameter(torch.zeros(1, a["chunk"], w))
        self.decoder = nn.ModuleList(DetrDecoderLayer(w, t["heads"], t["ff"]) for _ in range(t["dec_layers"]))
        self.action_out = nn.Linear(w, a["dim"])

    def forward(self, images, qpos):
        b, c = images.shape[0], images.shape[1]
        f = self.feat_proj(self.backbone(images.reshape(b * c, *images.shape[2:])))
        f = f.flatten(2).transpose(1, 2).reshape(b, -1, f.shape[1])
        z = torch.zeros(b, self.latent_dim, device=images.device, dtype=images.dtype)  # CVAE prior mean at inference
        x = torch.cat([self.latent_proj(z)[:, None], self.state_proj(qpos)[:, None], f], dim=1) + self.pos
        for layer in self.encoder:
            x = layer(x)
        q = self.queries.expand(b, -1, -1)
        for layer in self.decoder:
            q = layer(q, x)
        return self.action_out(q)


def build(cfg: dict) -> FamilyBuild:
    a = cfg["action"]
    policy = StageModule("policy", ActPolicy(cfg),
                         (image_spec(cfg["cameras"], (cfg["image_height"], cfg["image_width"])),
                          spec("qpos", ("batch", a["state_dim"]))),
                         (spec("actions", ("batch", a["chunk"], a["dim"]), role="action"),))
    return FamilyBuild([policy], (CallSpec("policy"),), "actions", ("batch", a["chunk"], a["dim"]))
