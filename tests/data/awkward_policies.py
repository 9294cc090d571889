"""Third-party policies as users write them, for `export --module` (tests/test_export_module.py)."""
import torch
from torch import nn


class BranchOnBatch(nn.Module):
    """Reads the batch as a Python int (dynamo fixes it); the traced branch happens to broadcast correctly."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)
        self.query = nn.Parameter(torch.randn(4))

    def forward(self, x):
        bs = int(x.shape[0])
        q = self.query.unsqueeze(0).repeat(bs, 1) if bs > 1 else self.query.unsqueeze(0)
        return self.lin(x) + q


class BatchFromInt(nn.Module):
    """Builds its output batch from a Python int: no exporter keeps the batch dynamic."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x):
        bs = int(x.shape[0])
        return torch.zeros(bs, 4) + self.lin(x)[:1]


class NamedOutputs(nn.Module):
    def forward(self, obs):
        return {"actions": obs * 2, "value": obs.sum(-1, keepdim=True)}


class Broken(nn.Module):
    def forward(self, obs):
        raise RuntimeError("forward is broken")


class NoOnnxFunction(nn.Module):
    """An op no ONNX exporter can translate: torch's message starts with "Next steps:", the cause is further down."""
    def forward(self, obs):
        return torch.special.bessel_j0(obs)


class ReturnsNumber(nn.Module):
    def forward(self, obs):
        return 3


def branch_on_batch():
    torch.manual_seed(0)
    return BranchOnBatch(), (torch.randn(1, 8),)


def batch_from_int():
    torch.manual_seed(0)
    return BatchFromInt(), {"obs": torch.randn(1, 8)}


def named_outputs():
    return NamedOutputs(), {"obs": torch.randn(2, 6)}


def broken():
    return Broken(), {"obs": torch.randn(2, 6)}


def returns_number():
    return ReturnsNumber(), {"obs": torch.randn(2, 6)}


def no_onnx_function():
    return NoOnnxFunction(), {"obs": torch.randn(2, 6)}
