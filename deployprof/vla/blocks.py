"""Export-friendly building blocks: explicit attention math (no fused SDPA fast path), KV as plain tensors."""
from __future__ import annotations

import math

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Gemma-style RMSNorm (scale by 1 + weight)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight)


def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on [B, H, S, D] with positions [S] (rotate-half form)."""
    half = x.shape[-1] // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=x.device) * (-math.log(10000.0) / half))
    angles = positions.to(torch.float32)[:, None] * freqs[None, :]
    cos, sin = torch.cos(angles), torch.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Grouped-query attention: q [B,H,Sq,D], k/v [B,Hkv,Skv,D]; KV heads shared by H/Hkv query heads.
    Causal: query i (the last Sq of Skv positions) sees keys up to its own position."""
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        sq, skv = q.shape[2], k.shape[2]
        qpos = torch.arange(sq, device=q.device)[:, None] + (skv - sq)
        scores = scores.masked_fill(torch.arange(skv, device=q.device)[None, :] > qpos, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def split_heads(x: torch.Tensor, heads: int, dim: int) -> torch.Tensor:
    b, s, _ = x.shape
    return x.reshape(b, s, heads, dim).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, s, d = x.shape
    return x.transpose(1, 2).reshape(b, s, h * d)


class ViTBlock(nn.Module):
    """Pre-LN ViT/SigLIP block: full self-attention + GELU MLP."""

    def __init__(self, width: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, mlp), nn.Linear(mlp, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1] // self.heads
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        a = attend(split_heads(q, self.heads, d), split_heads(k, self.heads, d), split_heads(v, self.heads, d))
        x = x + self.proj(merge_heads(a))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class VisionEncoder(nn.Module):
    """SigLIP-like: patch conv, learned positions, ViT blocks, projector to the trunk width."""

    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, mlp: int,
                 out_width: int | None):
        super().__init__()
        self.patch = nn.Conv2d(3, width, patch_size, stride=patch_size)
        pos = torch.empty(1, (image_size // patch_size) ** 2, width)
        # No random draw on the meta device: there it loads torch's Python decompositions (~2 s of `models`).
        self.pos = nn.Parameter(pos if pos.is_meta else torch.randn(pos.shape) * 0.02)
        self.blocks = nn.ModuleList(ViTBlock(width, heads, mlp) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, out_width) if out_width else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(images).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.proj(self.norm(x))


class DecoderLayer(nn.Module):
    """Gemma-like decoder layer with RoPE and grouped/multi-query attention.

    `past_k`/`past_v` are prepended to this layer's keys/values: the prefix KV cache the action expert reuses.
    Returns the new hidden states and this layer's (rotated) keys and values, for the cache."""

    def __init__(self, width: int, heads: int, kv_heads: int, head_dim: int, mlp: int, act: str = "gelu",
                 causal: bool = False):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim, self.causal = heads, kv_heads, head_dim, causal
        self.act = (lambda x: nn.functional.gelu(x, approximate="tanh")) if act == "gelu" else nn.functional.silu
        self.norm1, self.norm2 = RMSNorm(width), RMSNorm(width)
        self.q = nn.Linear(width, heads * head_dim, bias=False)
        self.k = nn.Linear(width, kv_heads * head_dim, bias=False)
        self.v = nn.Linear(width, kv_heads * head_dim, bias=False)
        self.o = nn.Linear(heads * head_dim, width, bias=False)
        self.gate = nn.Linear(width, mlp, bias=False)
        self.up = nn.Linear(width, mlp, bias=False)
        self.down = nn.Linear(mlp, width, bias=False)

    def forward(self, x, positions, past_k=None, past_v=None, kv_only: bool = False):
        h = self.norm1(x)
        k = rope(split_heads(self.k(h), self.kv_heads, self.head_dim), positions)
        v = split_heads(self.v(h), self.kv_heads, self.head_dim)
        if kv_only:  # the last prefix layer: only its cache is used downstream (exporters drop the rest anyway)
            return x, k, v
        q = rope(split_heads(self.q(h), self.heads, self.head_dim), positions)
        keys = k if past_k is None else torch.cat([past_k, k], dim=2)
        values = v if past_v is None else torch.cat([past_v, v], dim=2)
        x = x + self.o(merge_heads(attend(q, keys, values, self.causal)))
        h = self.norm2(x)
        x = x + self.down(self.act(self.gate(h)) * self.up(h))
        return x, k, v


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow time t in [0, 1], shape [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(1000.0) / half))
    angles = t[:, None] * 1000.0 * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
