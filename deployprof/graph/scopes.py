"""Which part of the PyTorch model an ONNX node came from: its module path (the layer-time tables' attribution). The dynamo
exporter writes `pkg.torch.onnx.name_scopes` into every node's metadata (['', 'layers.0', 'layers.0.norm1', 'pow_3']:
the root, each enclosing module by its qualified name, the node itself); the TorchScript exporter puts the scope in
the node's name (`/layers.0/norm1/Pow`). A node with neither has no module path and is counted under its op type."""
from __future__ import annotations

import ast

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
MAX_SCOPES_CHARS = 1 << 16   # a real scope list is under 1 KB; an 8 MB one parsed as a literal took 2.1 GB


def module_path(name: str, metadata: dict[str, str]) -> tuple[str, ...]:
    """Enclosing modules, outermost first, each by its qualified name (`('layers.0', 'layers.0.norm1')`)."""
    text = metadata.get(SCOPES_KEY)
    if text and len(text) <= MAX_SCOPES_CHARS:  # longer: not an exporter's, read as if absent
        try:
            scopes = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            scopes = None
        if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
            return tuple(s for s in scopes[1:-1] if s)
    parts = [p for p in name.split("/")[1:-1] if p] if name.startswith("/") else []
    return tuple(".".join(parts[:i + 1]) for i in range(len(parts)))


def module_at(path: tuple[str, ...], depth: int, op_type: str) -> str:
    """The module a node counts under at `depth` (1: the stage's top-level children; deeper than its path: its
    innermost module); `(OpType)` for a node without one."""
    if not path:
        return op_type if op_type.startswith("(") else f"({op_type})"  # `(dispatch)` is already a label
    return path[min(max(depth, 1), len(path)) - 1]
