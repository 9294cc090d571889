"""Static cost analysis: exact MACs/FLOPs, parameters and memory from the ONNX graph alone."""
from .analyze import analyze_graph, analyze_model
from .handlers import OP_HANDLERS

__all__ = ["OP_HANDLERS", "analyze_graph", "analyze_model"]
