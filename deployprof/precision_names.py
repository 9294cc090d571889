"""The precision names every layer speaks (options, specs, sweeps, manifests), apart from the preparer
(precision/prepare.py) that needs onnx to make them.

A mixed precision (int8-mixed, fp16-mixed) is its base precision with the components `precision-debug` found kept
in FP32; its manifest lists the kept nodes. Where only the arithmetic matters (roofline floors, builder flags) it
counts as its base precision."""

MIXED = {"int8-mixed": "int8", "fp16-mixed": "fp16"}
PRECISIONS = ("fp32", "fp16", "fp16-naive", "int8", "int8-dynamic", *MIXED)


def base_precision(precision: str) -> str:
    """int8-mixed -> int8, fp16-mixed -> fp16; every other name is its own."""
    return MIXED.get(precision, precision)
