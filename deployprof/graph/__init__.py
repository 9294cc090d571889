"""Load ONNX graphs without their weights, bind symbolic dims, infer shapes."""
from .load import LoadedGraph, load_graph, parse_dim_bindings, parse_shape_bindings

__all__ = ["LoadedGraph", "load_graph", "parse_dim_bindings", "parse_shape_bindings"]
