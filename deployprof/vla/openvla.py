"""OpenVLA (action tokens decoded one at a time with a KV cache) and OpenVLA-OFT (one parallel pass over empty
action slots + L1 regression head). Both: DINOv2-like + SigLIP-like encoders on the same image, features
concatenated and projected by a 3-layer GELU MLP into a Llama-like causal decoder."""
from __future__ import annotations

import torch
from torch import nn

from ..manifest import CallSpec, LoopSpec
from .blocks import DecoderLayer, RMSNorm, VisionEncoder
from .common import FamilyBuild, StageModule, image_spec, spec


class DualVision(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        v, v2, t = cfg["vision"], cfg["vision2"], cfg["trunk"]
        self.a = VisionEncoder(v["image_size"], v["patch_size"], v["width"], v["layers"], v["heads"], v["mlp"], None)
        self.b = VisionEncoder(v["image_size"], v["patch_size"], v2["width"], v2["layers"], v2["heads"], v2["mlp"], None)
        fused = v["width"] + v2["width"]
        h = cfg["projector"]["hidden"]
        self.projector = nn.Sequential(nn.Linear(fused, h), nn.GELU(), nn.Linear(h, t["width"]), nn.GELU(), nn.Linear(t["width"], t["width"]))

    def forward(self, images):  # [B, cams, 3, H, W] -> [B, cams * patches, trunk width]
        b, c = images.shape[0], images.shape[1]
        flat = images.reshape(b * c, *images.shape[2:])
        tokens = self.projector(torch.cat([self.a(flat), self.b(flat)], dim=-1))
        return tokens.reshape(b, c * tokens.shape[1], tokens.shape[2])


class LlamaTrunk(nn.Module):
    def __init__(self, t: dict, causal: bool = True):
        super().__init__()
        self.embed = nn.Embedding(t["vocab"], t["width"])
        self.layers = nn.ModuleList(DecoderLayer(t["width"], t["heads"], t["kv_heads"], t["head_dim"], t["mlp"], act="silu",
                                                 causal=causal) for _ in range(t["layers"]))
        self.norm = RMSNorm(t["width"])

    def run(self, x, positions, past_k=None, past_v=None):
        ks, vs = [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, positions, None if past_k is None else past_k[i], None if past_v is None else past_v[i])
            ks.append(k if past_k is None else torch.cat([past_k[i], k], dim=2))
            vs.append(v if past_v is None else torch.cat([past_v[i], v], dim=2))
        return self.norm(x), torch.stack(ks), torch.stack(vs)


class Prefill(nn.Module):
    def __init__(self, t: dict):
        super().__init__()
        self.trunk = LlamaTrunk(t)
        self.lm_head = nn.Linear(t["width"], t["vocab"], bias=False)

    def forward(self, image_tokens, prompt_ids):
        x = torch.cat([image_tokens, self.trunk.embed(prompt_ids)], dim=1)
        h, k, v = self.trunk.run(x, torch.arange(x.shape[1], device=x.device))
        return self.lm_head(h[:, -1]), k, v


class DecodeStep(nn.Module):
    """One new token against the cache: the graph a deployment runs N times, with present fed back as past."""

    def __init__(self, prefill: Prefill):
        super().__init__()
        # The prefill's own modules under the same names, so both graphs name the shared weights alike.
        self.trunk, self.lm_head = prefill.trunk, prefill.lm_head

    def forward(self, token, past_k, past_v):
        x = self.trunk.embed(token)
        positions = torch.arange(1, device=x.device) + past_k.shape[3]
        h, k, v = self.trunk.run(x, positions, past_k, past_v)
        return self.lm_head(h[:, -1]), k, v


def _vision(cfg: dict) -> tuple[StageModule, int]:
    v = cfg["vision"]
    n = cfg["cameras"] * (v["image_size"] // v["patch_size"]) ** 2
    tokens = spec("image_tokens", ("batch", n, cfg["trunk"]["width"]))
    return StageModule("vision", DualVision(cfg), (image_spec(cfg["cameras"], v["image_size"]),), (tokens,)), n


def build_openvla(cfg: dict) -> FamilyBuild:
    t, a = cfg["trunk"], cfg["action"]
    vision, n_img = _vision(cfg)
    seq = n_img + cfg["prompt_tokens"]
    kv = lambda name, length: spec(name, (t["layers"], "batch", t["kv_heads"], length, t["head_dim"]), role="kv_cache")  # noqa: E731
    logits = spec("logits", ("batch", t["vocab"]))
    prefill_mod = Prefill(t)
    prefill = StageModule("prefill", prefill_mod,
                          (vision.outputs[0], spec("prompt_ids", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"], "int64")),
                          (logits, kv("past_k", seq), kv("past_v", seq)))
    decode = StageModule("decode", DecodeStep(prefill_mod),
                         (spec("token", ("batch", 1), "int", t["vocab"] - a["bins"], t["vocab"], "int64"),
                          kv("past_k", "past"), kv("past_v", "past")),
                         (logits, spec("present_k", (t["layers"], "batch", t["kv_heads"], "past_plus_1", t["head_dim"])),
                          spec("present_v", (t["layers"], "batch", t["kv_heads"], "past_plus_1", t["head_dim"]))))
    loop = LoopSpec(kind="autoregressive", steps=a["dim"], state="token", output="logits",
                    cache=(("past_k", "present_k"), ("past_v", "present_v")), growing_dim="past", bins=a["bins"],
                    result="actions")
    schedule = (CallSpec("vision"), CallSpec("prefill"), CallSpec("decode", repeat=a["dim"] - 1, loop=loop))
    return FamilyBuild([vision, prefill, decode], schedule, "actions", ("batch", a["dim"]), {"past": seq})


class MLPResNetHead(nn.Module):
    """OFT's L1 regression head: per chunk step, the action slots' hidden states -> MLP-ResNet -> action."""

    def __init__(self, in_width: int, hidden: int, blocks: int, out: int):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(in_width), nn.Linear(in_width, hidden), nn.ReLU())
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.ReLU()) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, out))

    def forward(self, x):
        x = self.inp(x)
        for blk in self.blocks:
            x = x + blk(x)
        return self.out(x)


class OftPolicy(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        t, a, h = cfg["trunk"], cfg["action"], cfg["head"]
        self.chunk, self.dim = a["chunk"], a["dim"]
        self.trunk = LlamaTrunk(t, causal=False)  # action slots are decoded in parallel, bidirectionally
        self.empty_action = nn.Parameter(torch.zeros(1, 1, t["width"]))
        self.head = MLPResNetHead(a["dim"] * t["width"], h["hidden"], h["blocks"], a["dim"])

    def forward(self, image_tokens, prompt_ids):
        b = image_tokens.shape[0]
        slots = self.empty_action.expand(b, self.chunk * self.dim, -1)
        x = torch.cat([image_tokens, self.trunk.embed(prompt_ids), slots], dim=1)
        h, _, _ = self.trunk.run(x, torch.arange(x.shape[1], device=x.device))
        acts = h[:, -self.chunk * self.dim:].reshape(b, self.chunk, self.dim * h.shape[-1])
        return self.head(acts)


def build_oft(cfg: dict) -> FamilyBuild:
    t, a = cfg["trunk"], cfg["action"]
    vision, _ = _vision(cfg)
    policy = StageModule("policy", OftPolicy(cfg),
                         (vision.outputs[0], spec("prompt_ids", ("batch", cfg["prompt_tokens"]), "int", 0, t["vocab"], "int64")),
                         (spec("actions", ("batch", a["chunk"], a["dim"]), role="action"),))
    return FamilyBuild([vision, policy], (CallSpec("vision"), CallSpec("policy")), "actions", ("batch", a["chunk"], a["dim"]))
