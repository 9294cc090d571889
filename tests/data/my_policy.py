"""A user's own policy for `deployprof export --module tests.data.my_policy:make` (used by the tests)."""
import torch
from torch import nn


class TinyPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.net = nn.Sequential(nn.Linear(32 + 16, 64), nn.ReLU(), nn.Linear(64, 7))

    def forward(self, obs, instruction):
        return self.net(torch.cat([obs, self.embed(instruction).mean(1)], dim=-1))


def make():
    torch.manual_seed(0)
    return TinyPolicy(), {"obs": torch.randn(2, 16), "instruction": torch.randint(0, 100, (2, 5))}
