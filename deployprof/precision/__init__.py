"""Reduced-precision artifacts of an export: FP16 graphs and INT8 Q/DQ graphs, each a new export folder whose
manifest records what was done (the same artifact ONNX Runtime and TensorRT consume)."""
from .prepare import prepare_precision

__all__ = ["prepare_precision"]
