"""PyTorch reference blocks and family assemblies (random weights, real structure). Imports torch."""
from .families import StageModule, build_stages, count_parameters

__all__ = ["StageModule", "build_stages", "count_parameters"]
