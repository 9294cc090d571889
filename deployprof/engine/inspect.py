"""The engine inspector's JSON in both shapes (TensorRT <= 10: a "Bindings" name list; 11: "I/O Tensors"
objects), at both verbosities (layer names only: strings; DETAILED: objects), mapped back to ONNX node names."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from ..errors import ModelError

_DTYPES = (("FP32", "fp32"), ("Float", "fp32"), ("FP16", "fp16"), ("Half", "fp16"), ("BF16", "bf16"),
           ("Int8", "int8"), ("INT8", "int8"), ("FP8", "fp8"), ("FP4", "fp4"), ("Int32", "int32"),
           ("INT32", "int32"), ("Int64", "int64"), ("Bool", "bool"))
_ONNX_META = re.compile(r"\[ONNX Layer: ([^\]]+)\]")
_FOREIGN = re.compile(r"^\{?ForeignNode\[(.+?)\.\.\.(.+?)\]\}?$")


@dataclass(frozen=True)
class LayerInfo:
    name: str
    layer_type: Optional[str]
    precision: Optional[str]
    onnx_nodes: tuple[str, ...]


@dataclass(frozen=True)
class EngineLayers:
    layers: tuple[LayerInfo, ...]
    io_tensors: tuple[str, ...]
    format: str                       # "bindings" | "io-tensors"

    def precision_mix(self) -> dict[str, int]:
        return dict(Counter(l.precision or "unknown" for l in self.layers).most_common())


def _dtype(tensor: dict) -> Optional[str]:
    text = " ".join(str(tensor.get(k, "")) for k in ("Format/Datatype", "Datatype", "DataType", "Format"))
    for token, name in _DTYPES:
        if re.search(rf"\b{token}\b", text):
            return name
    return None


def layer_origin(name: str, metadata: Optional[str]) -> set[str]:
    """ONNX nodes a network layer (before fusion) came from: its name, and its "[ONNX Layer: ...]" metadata."""
    return {name, *_ONNX_META.findall(metadata or "")}


def map_to_onnx(layer_name: str, metadata: str, onnx_order: Sequence[str]) -> tuple[str, ...]:
    """ONNX nodes behind one engine layer: the parser's metadata when built with DETAILED verbosity, else the
    fused name ("a + b"), or a Myelin span ("{ForeignNode[first...last]}") expanded in graph order."""
    found = _ONNX_META.findall(metadata or "")
    if found:
        return tuple(dict.fromkeys(found))
    m = _FOREIGN.match(layer_name.strip())
    if m:
        first, last = m.group(1), m.group(2)
        if first in onnx_order and last in onnx_order:
            i, j = onnx_order.index(first), onnx_order.index(last)
            return tuple(onnx_order[min(i, j):max(i, j) + 1])
        return tuple(n for n in (first, last) if n in onnx_order)
    known = set(onnx_order)
    parts = [p.strip() for p in layer_name.split(" + ")]
    return tuple(p for p in parts if p in known)


def parse_engine_info(text: str, onnx_order: Sequence[str] = ()) -> EngineLayers:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"engine inspector output is not JSON ({exc.msg}); was the engine built by this TensorRT?") from None
    if not isinstance(data, dict) or "Layers" not in data:
        raise ModelError("engine inspector JSON has no 'Layers' list (unknown TensorRT inspector format)")
    layers = []
    for item in data["Layers"]:
        if isinstance(item, str):  # LAYER_NAMES_ONLY verbosity
            layers.append(LayerInfo(item, None, None, map_to_onnx(item, "", onnx_order)))
            continue
        name = str(item.get("Name", ""))
        outputs = item.get("Outputs") or []
        precision = next((p for p in (_dtype(t) for t in outputs if isinstance(t, dict)) if p), None)
        layers.append(LayerInfo(name, item.get("LayerType"), precision,
                                map_to_onnx(name, str(item.get("Metadata", "")), onnx_order)))
    if "I/O Tensors" in data:
        io = tuple(str(t.get("Name", t)) if isinstance(t, dict) else str(t) for t in data["I/O Tensors"])
        fmt = "io-tensors"
    else:
        io, fmt = tuple(str(b) for b in data.get("Bindings", ())), "bindings"
    return EngineLayers(tuple(layers), io, fmt)
