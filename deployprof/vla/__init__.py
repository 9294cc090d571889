"""PyTorch reference blocks and family assemblies (random weights, real structure). Imports torch."""
from .families import FAMILIES, FamilyBuild, StageModule, build_stages, count_parameters

__all__ = ["FAMILIES", "FamilyBuild", "StageModule", "build_stages", "count_parameters"]
