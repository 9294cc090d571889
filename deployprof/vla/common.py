"""What every family assembly returns, and the pieces several families share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ..manifest import CallSpec, Dim, TensorSpec
from .blocks import VisionEncoder

F32 = "float32"


@dataclass
class StageModule:
    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def dynamic_axes(self, tensor: TensorSpec) -> dict[int, str]:
        """Symbolic dims of a tensor's spec are its dynamic axes (batch, a growing KV length, ...)."""
        return {i: d for i, d in enumerate(tensor.shape) if isinstance(d, str)}


@dataclass
class FamilyBuild:
    stages: list[StageModule]
    schedule: tuple[CallSpec, ...]
    action_output: str
    action_shape: tuple[Dim, ...]
    default_dims: dict[str, int] = field(default_factory=dict)


def spec(name: str, shape: tuple, dist: str = "normal", low: Optional[float] = None, high: Optional[float] = None,
         dtype: str = F32, role: Optional[str] = None) -> TensorSpec:
    return TensorSpec(name, dtype, tuple(shape), dist, low, high, role)


def image_spec(cams: int, size: int | tuple[int, int]) -> TensorSpec:
    h, w = (size, size) if isinstance(size, int) else size
    return spec("images", ("batch", cams, 3, h, w), "uniform", -1.0, 1.0, role="image")


def pixel_shuffle_tokens(x: torch.Tensor, grid: int, factor: int) -> torch.Tensor:
    """[B, g*g, C] -> [B, (g/f)^2, C*f*f]: merge f x f neighbouring patches (SmolVLA, GR00T token reduction)."""
    b, c, g = x.shape[0], x.shape[2], grid
    x = x.reshape(b, g // factor, factor, g // factor, factor, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (g // factor) ** 2, c * factor * factor)


class MultiCameraViT(nn.Module):
    """One ViT applied to every camera view; optional pixel shuffle; projected to `out_width` tokens."""

    def __init__(self, v: dict, out_width: int, shuffle: int = 1):
        super().__init__()
        self.shuffle, self.grid = shuffle, v["image_size"] // v["patch_size"]
        self.encoder = VisionEncoder(v["image_size"], v["patch_size"], v["width"], v["layers"], v["heads"], v["mlp"],
                                     out_width if shuffle == 1 else None)
        self.proj = nn.Linear(v["width"] * shuffle * shuffle, out_width) if shuffle > 1 else nn.Identity()

    def tokens_per_image(self, v: dict) -> int:
        return (v["image_size"] // v["patch_size"]) ** 2 // (self.shuffle ** 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, c = images.shape[0], images.shape[1]
        t = self.encoder(images.reshape(b * c, *images.shape[2:]))
        if self.shuffle > 1:
            t = self.proj(pixel_shuffle_tokens(t, self.grid, self.shuffle))
        return t.reshape(b, c * t.shape[1], t.shape[2])


def vision_stage(cfg: dict, out_width: int, shuffle: int = 1, name: str = "vision") -> tuple[StageModule, int]:
    v = cfg["vision"]
    module = MultiCameraViT(v, out_width, shuffle)
    n = cfg["cameras"] * module.tokens_per_image(v)
    tokens = spec("image_tokens", ("batch", n, out_width))
    return StageModule(name, module, (image_spec(cfg["cameras"], v["image_size"]),), (tokens,)), n
