"""The precision names every layer speaks (options, specs, sweeps, manifests), apart from the preparer
(precision/prepare.py) that needs onnx to make them, and what each costs in weight memory.

A mixed precision (int8-mixed, fp16-mixed, ...) is its base precision with the components `precision-debug` found
kept in FP32; its manifest lists the kept nodes. Where only the arithmetic matters (roofline floors, builder flags)
it counts as its base precision."""
from typing import Optional

LOW = ("fp16", "bf16", "int8", "fp8", "int4")   # the bases precision-debug searches and a -mixed variant lowers
MIXED = {f"{p}-mixed": p for p in LOW}
PRECISIONS = ("fp32", "fp16", "fp16-naive", "bf16", "int8", "int8-dynamic", "fp8", "int4", *MIXED)

# A name users will ask for that no maintained library here produces: refused in one line, with the reason.
REFUSED = {"nvfp4": "nvfp4 (E2M1 weights and activations, FP8 block scales) is produced by NVIDIA Model Optimizer, "
                    "whose ONNX path pins onnxruntime-gpu and onnx 1.21 and cannot share this environment, and runs "
                    "only on Blackwell and Thor; its accuracy is not simulated here: use fp8 or int4 "
                    "(docs/PRECISIONS.md)"}

INT4_BLOCK = 32       # weights per scale of the int4 variant (ONNX Runtime's and TensorRT's usual block)
# Weight bytes per parameter at each base precision. int4 is weight-only: the MatMul/Gemm weights at 4 bits plus one
# FP16 scale per block (what TensorRT keeps), the other weights at FP16 (the arithmetic it dequantizes to).
BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "fp16-naive": 2.0, "bf16": 2.0, "int8": 1.0, "int8-dynamic": 1.0,
                   "fp8": 1.0}
INT4_BYTES_PER_PARAM = 0.5 + 2 / INT4_BLOCK
WEIGHT_PRECISIONS = ("fp32", "fp16", "bf16", "fp8", "int8", "int4")   # the columns of `flops`' memory per precision


def base_precision(precision: str) -> str:
    """int8-mixed -> int8, fp16-mixed -> fp16; every other name is its own."""
    return MIXED.get(precision, precision)


def weight_bytes(precision: str, params: int, matmul_params: Optional[int] = None) -> int:
    """Bytes of `params` weights at `precision`; for int4, `matmul_params` of them (those a MatMul/Gemm multiplies
    by: all when not given) at 4 bits plus scales, the rest at FP16."""
    base = base_precision(precision)
    if base == "int4":
        q = params if matmul_params is None else min(matmul_params, params)
        return int(round(q * INT4_BYTES_PER_PARAM + (params - q) * 2))
    return int(round(params * BYTES_PER_PARAM.get(base, 4.0)))


def refusal(name: str) -> Optional[str]:
    """Why `name` is not a precision deployprof makes (None when it is one)."""
    if name in PRECISIONS:
        return None
    return REFUSED.get(name) or f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}"
