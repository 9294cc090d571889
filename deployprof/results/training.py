"""Fine-tuning cost."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .runs import LatencyStats

EAGER_MFU_MAX = 0.9   # an eager PyTorch training loop does not reach this; above it the FLOPs or the peak are wrong


@dataclass(frozen=True)
class TrainResult:
    """One train-bench run: step-time statistics (same machinery as inference), throughput, convergence, memory.
    Training FLOPs are taken as 3 x the forward's matrix FLOPs (forward + two backward matmuls), as stated."""
    preset: str
    family: str
    loss: str
    device: str
    batch: int
    optimizer: str
    lr: float
    mixed_precision: Optional[str]
    grad_checkpointing: bool
    frozen_params: int
    params: int
    trainable_params: int
    steps: int
    warmup_steps: int
    step_time: LatencyStats              # steps after warm-up, in ms
    samples_per_s: float
    dataset_size: int
    epoch_s: float                       # dataset_size / samples_per_s
    loss_curve: tuple[float, ...]        # every step, warm-up included
    converge_target: float
    converged_step: Optional[int]
    converged_s: Optional[float]
    forward_flops_per_step: int
    train_flops_per_step: int
    achieved_tflops: float               # train FLOPs / p50 step time
    mfu: Optional[float]                 # achieved / the target profile's peak at the training precision
    mfu_target: Optional[str]
    host_peak_rss_bytes: int
    host_rss_before_bytes: int
    device_peak_bytes: Optional[int]
    seed: int

    @property
    def mfu_implausible(self) -> bool:
        """Above what an eager training loop reaches, or the ceiling itself (findings.mfu_problem says which)."""
        return self.mfu is not None and self.mfu > EAGER_MFU_MAX

