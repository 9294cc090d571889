"""Load ONNX graphs without their weights, bind symbolic dims, infer shapes."""
from .load import LoadedGraph, load_graph

__all__ = ["LoadedGraph", "load_graph"]
