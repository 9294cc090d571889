"""Octo: a ViT trunk over patch tokens of each observation in the history window, language embedding tokens and
a readout token; a small diffusion MLP head (residual blocks) predicts the noise of the action chunk from the
readout, called `steps` times (DDIM on the host)."""
from __future__ import annotations

import torch
from torch import nn

from ..manifest import CallSpec, LoopSpec
from .blocks import ViTBlock, timestep_embedding
from .common import FamilyBuild, StageModule, image_spec, spec


class Trunk(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        v, t = cfg["vision"], cfg["trunk"]
        self.patch = nn.Conv2d(3, t["width"], v["patch_size"], stride=v["patch_size"])
        n = cfg["cameras"] * (v["image_size"] // v["patch_size"]) ** 2
        self.pos = nn.Parameter(torch.zeros(1, n + cfg["prompt_tokens"] + 1, t["width"]))
        self.readout_token = nn.Parameter(torch.zeros(1, 1, t["width"]))
        self.blocks = nn.ModuleList(ViTBlock(t["width"], t["heads"], t["mlp"]) for _ in range(t["layers"]))
        self.norm = nn.LayerNorm(t["width"])

    def forward(self, images, language):  # images: [B, history, 3, H, W]; language: [B, L, W] (T5 embeddings)
        b, c = images.shape[0], images.shape[1]
        p = self.patch(images.reshape(b * c, *images.shape[2:])).flatten(2).transpose(1, 2)
        x = torch.cat([p.reshape(b, -1, p.shape[-1]), language, self.readout_token.expand(b, -1, -1)], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x[:, -1])


class DiffusionHead(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, a, w = cfg["head"], cfg["action"], cfg["trunk"]["width"]
        self.width = h["width"]
        flat = a["chunk"] * a["dim"]
        self.inp = nn.Linear(flat + w + h["width"], h["width"])
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(h["width"]), nn.Linear(h["width"], 4 * h["width"]), nn.SiLU(),
                                                  nn.Linear(4 * h["width"], h["width"])) for _ in range(h["blocks"]))
        self.out = nn.Linear(h["width"], flat)

    def forward(self, x_t, t, readout):
        temb = timestep_embedding(t.to(torch.float32) / 1000.0, self.width)
        x = self.inp(torch.cat([x_t, readout, temb], dim=-1))
        for blk in self.blocks:
            x = x + blk(x)
        return self.out(x)


def build(cfg: dict) -> FamilyBuild:
    v, t, a = cfg["vision"], cfg["trunk"], cfg["action"]
    readout = spec("readout", ("batch", t["width"]))
    trunk = StageModule("trunk", Trunk(cfg),
                        (image_spec(cfg["cameras"], v["image_size"]), spec("language", ("batch", cfg["prompt_tokens"], t["width"]))),
                        (readout,))
    flat = a["chunk"] * a["dim"]
    head = StageModule("diffusion", DiffusionHead(cfg),
                       (spec("x_t", ("batch", flat)), spec("t", ("batch",), "int", 1, a["steps"] + 1, "int64"), readout),
                       (spec("eps", ("batch", flat), role="action_noise"),))
    loop = LoopSpec(kind="ddim", steps=a["steps"], state="x_t", output="eps", time="t")
    schedule = (CallSpec("trunk"), CallSpec("diffusion", repeat=a["steps"], loop=loop))
    return FamilyBuild([trunk, head], schedule, "x_t", ("batch", flat))
