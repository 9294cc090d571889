"""Fine-tuning cost."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .runs import LatencyStats


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


EAGER_MFU_MAX = 0.9   # an eager PyTorch training loop does not reach this; above it the FLOPs or the peak are wrong


def mfu_problem(result: TrainResult) -> Optional[str]:
    """Why an MFU is not a result: above the ceiling it divides by, or above what an eager loop can reach."""
    if result.mfu is None:
        return None
    if result.mfu > 1.0:
        return (f"MFU {result.mfu:.0%} of {result.mfu_target} exceeds the ceiling it divides by: the FLOP count or "
                "the peak is wrong, not the model")
    if result.mfu > EAGER_MFU_MAX:
        return (f"MFU {result.mfu:.0%} of {result.mfu_target} is above the {EAGER_MFU_MAX:.0%} an eager training loop "
                "reaches: check the target's peak (a CPU's is measured; a GPU's is its datasheet's) and the FLOP count")
    return None
