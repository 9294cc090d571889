"""A graph's nodes as plain Python values, made once per parse.

Reading a protobuf field builds a fresh wrapper on every access (several times a slot read), and the shape pass,
the FLOPs walk and the memory walk read every node's fields many times over a 6,000-node decoder: each pass reads
these views instead (load.py keeps them beside the parsed graph)."""
from __future__ import annotations

import onnx
from onnx import helper


class NodeView:
    __slots__ = ("proto", "op_type", "domain", "name", "input", "output", "attrs", "subgraphs")

    def __init__(self, node: onnx.NodeProto):
        self.proto = node
        self.op_type, self.domain, self.name = node.op_type, node.domain, node.name
        self.input, self.output = tuple(node.input), tuple(node.output)
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        self.subgraphs = tuple(g for v in self.attrs.values() for g in (v if isinstance(v, list) else [v])
                               if isinstance(g, onnx.GraphProto))

    @property
    def attribute(self):
        return self.proto.attribute


def views(graph: onnx.GraphProto) -> list[NodeView]:
    return [NodeView(n) for n in graph.node]
