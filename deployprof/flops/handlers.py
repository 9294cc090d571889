"""One pure function per op family. Convention (README): MAC = multiply-accumulate, dense FLOPs = 2 x MACs;
bias and "other" FLOPs (elementwise 1/elem, Softmax 5, LayerNorm 5, RMSNorm 4, BatchNorm 2) are separate."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import onnx

from ..registry import Registry


class Unresolved(Exception):
    """A shape the formula needs is not known statically."""


@dataclass(frozen=True)
class Cost:
    macs: int = 0
    bias: int = 0
    other: int = 0


FREE = Cost()


class Ctx:
    def __init__(self, node, shapes: dict):
        self.node = node      # a graph.nodes.NodeView: fields and decoded attributes as plain values
        self.shapes = shapes
        self.attrs = node.attrs

    def has_in(self, i: int) -> bool:
        return len(self.node.input) > i and bool(self.node.input[i])

    def ins(self, i: int) -> tuple[int, ...]:
        if not self.has_in(i):
            raise Unresolved(f"input {i} absent")
        s = self.shapes.get(self.node.input[i])
        if s is None:
            raise Unresolved(self.node.input[i])
        return s

    def outs(self, i: int = 0) -> tuple[int, ...]:
        s = self.shapes.get(self.node.output[i]) if len(self.node.output) > i else None
        if s is None:
            raise Unresolved(self.node.output[i] if len(self.node.output) > i else f"output {i}")
        return s

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)


Handler = Callable[[Ctx], Cost]
OP_HANDLERS: Registry[Handler] = Registry("op handler")


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


# --- contractions -------------------------------------------------------------------------------

@OP_HANDLERS.register("MatMul", "MatMulInteger", "FusedMatMul")
def matmul(c: Ctx) -> Cost:
    """MACs = numel(Y) x K (covers every broadcasting and 1-D case)."""
    return Cost(macs=numel(c.outs()) * c.ins(0)[-1])


@OP_HANDLERS.register("QLinearMatMul")
def qlinear_matmul(c: Ctx) -> Cost:
    """MACs = numel(Y) x K, A at input 0."""
    return Cost(macs=numel(c.outs()) * c.ins(0)[-1])


@OP_HANDLERS.register("com.microsoft.MatMulNBits")
def matmul_nbits(c: Ctx) -> Cost:
    """MACs = numel(Y) x K (K from the attribute)."""
    return Cost(macs=numel(c.outs()) * int(c.attr("K")), bias=numel(c.outs()) if c.has_in(5) else 0)


@OP_HANDLERS.register("Gemm")
def gemm(c: Ctx) -> Cost:
    """MACs = M x N x K; bias = M x N when C is given."""
    a = c.ins(0)
    k = a[0] if c.attr("transA", 0) else a[1]
    y = c.outs()
    return Cost(macs=numel(y) * k, bias=numel(y) if c.has_in(2) else 0)


def _conv_cost(y: tuple[int, ...], w: tuple[int, ...], has_bias: bool) -> Cost:
    return Cost(macs=numel(y) * w[1] * numel(w[2:]), bias=numel(y) if has_bias else 0)


@OP_HANDLERS.register("Conv", "ConvInteger")
def conv(c: Ctx) -> Cost:
    """MACs = numel(Y) x (Cin/groups) x prod(kernel); W is [Cout, Cin/groups, k...]."""
    return _conv_cost(c.outs(), c.ins(1), c.node.op_type == "Conv" and c.has_in(2))


@OP_HANDLERS.register("QLinearConv")
def qlinear_conv(c: Ctx) -> Cost:
    """As Conv, W at input 3, bias at input 8."""
    return _conv_cost(c.outs(), c.ins(3), c.has_in(8))


@OP_HANDLERS.register("ConvTranspose")
def conv_transpose(c: Ctx) -> Cost:
    """MACs = numel(X) x (Cout/groups) x prod(kernel); W is [Cin, Cout/groups, k...]."""
    x, w = c.ins(0), c.ins(1)
    y = c.outs()
    return Cost(macs=numel(x) * w[1] * numel(w[2:]), bias=numel(y) if c.has_in(2) else 0)


@OP_HANDLERS.register("Einsum")
def einsum(c: Ctx) -> Cost:
    """MACs = product of every distinct index size (one multiply-add per point of the joint index space)."""
    eq = c.attr("equation").decode() if isinstance(c.attr("equation"), bytes) else c.attr("equation")
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for i, term in enumerate(lhs):
        shape = c.ins(i)
        if "..." in term:
            pre, post = term.split("...")
            n_ell = len(shape) - len(pre) - len(post)
            letters = list(pre) + [f"...{j}" for j in range(n_ell)] + list(post)
        else:
            letters = list(term)
        for letter, size in zip(letters, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    total = numel(tuple(sizes.values()))
    return Cost(macs=total) if len(lhs) > 1 else Cost(other=total)


# --- attention ----------------------------------------------------------------------------------

def _attention_cost(b: int, hq: int, sq: int, skv: int, d: int, dv: int) -> Cost:
    """Q.K^T and P.V as executed (full Sq x Skv); scale 1 and softmax 5 per score."""
    scores = b * hq * sq * skv
    return Cost(macs=scores * (d + dv), other=scores * 6)


@OP_HANDLERS.register("Attention")
def attention(c: Ctx) -> Cost:
    """ONNX opset-23 Attention: 4-D [B,H,S,D] or 3-D [B,S,H*D] with q/kv_num_heads; past KV prepended."""
    q, k, v = c.ins(0), c.ins(1), c.ins(2)
    if len(q) == 4:
        b, hq, sq, d = q
        skv, dv = k[2], v[3]
    else:
        hq, hkv = int(c.attr("q_num_heads")), int(c.attr("kv_num_heads"))
        b, sq, d = q[0], q[1], q[2] // hq
        skv, dv = k[1], v[2] // hkv
    if c.has_in(4):
        skv += c.ins(4)[2]
    return _attention_cost(b, hq, sq, skv, d, dv)


@OP_HANDLERS.register("com.microsoft.MultiHeadAttention")
def ms_mha(c: Ctx) -> Cost:
    """Q [B,S,H*D]; K/V [B,Skv,H*D] (or [B,H,Skv,D]); past_key at input 6."""
    q, k = c.ins(0), c.ins(1)
    h = int(c.attr("num_heads"))
    b, sq, d = q[0], q[1], q[2] // h
    skv = k[2] if len(k) == 4 else k[1]
    if c.has_in(6):
        skv += c.ins(6)[2]
    return _attention_cost(b, h, sq, skv, d, d)


@OP_HANDLERS.register("com.microsoft.GroupQueryAttention")
def ms_gqa(c: Ctx) -> Cost:
    """Q [B,S,H*D], K [B,S,Hkv*D], past_key [B,Hkv,Spast,D]."""
    q = c.ins(0)
    h = int(c.attr("num_heads"))
    b, sq, d = q[0], q[1], q[2] // h
    skv = sq + (c.ins(3)[2] if c.has_in(3) else 0)
    return _attention_cost(b, h, sq, skv, d, d)


@OP_HANDLERS.register("com.microsoft.Attention")
def ms_attention(c: Ctx) -> Cost:
    """Fused QKV projection (MACs = B x S x hidden x 3*hidden) plus attention over past + S."""
    x, w = c.ins(0), c.ins(1)
    h = int(c.attr("num_heads"))
    b, s, hidden = x
    out = w[1]
    proj = Cost(macs=b * s * hidden * out, bias=b * s * out if c.has_in(2) else 0)
    d = out // 3 // h
    skv = s + (c.ins(4)[3] if c.has_in(4) else 0)
    att = _attention_cost(b, h, s, skv, d, d)
    return Cost(macs=proj.macs + att.macs, bias=proj.bias, other=att.other)


# --- recurrent ----------------------------------------------------------------------------------

def _rnn(c: Ctx, gates: int) -> Cost:
    """MACs = directions x T x B x gates*H x (I + H); bias and gate arithmetic as other."""
    x, w = c.ins(0), c.ins(1)
    t, b = (x[1], x[0]) if c.attr("layout", 0) == 1 else (x[0], x[1])
    dirs, gh, i = w
    h = gh // gates
    steps = dirs * t * b
    bias = steps * gh * 2 if c.has_in(3) else 0
    return Cost(macs=steps * gh * (i + h), bias=bias, other=steps * h * (3 * gates))


OP_HANDLERS.add("LSTM", lambda c: _rnn(c, 4))
OP_HANDLERS.add("GRU", lambda c: _rnn(c, 3))
OP_HANDLERS.add("RNN", lambda c: _rnn(c, 1))


# --- per-element families -------------------------------------------------------------------------

def per_output(k: int) -> Handler:
    def h(c: Ctx) -> Cost:
        return Cost(other=k * numel(c.outs()))
    h.__doc__ = f"other = {k} x numel(Y)"
    return h


def per_input(k: int) -> Handler:
    def h(c: Ctx) -> Cost:
        return Cost(other=k * numel(c.ins(0)))
    h.__doc__ = f"other = {k} x numel(X)"
    return h


ELEMENTWISE = (
    "Add Sub Mul Div Pow Sqrt Reciprocal Exp Log Neg Abs Relu LeakyRelu PRelu Sigmoid HardSigmoid HardSwish Tanh "
    "Erf Gelu FastGelu BiasGelu QuickGelu Elu Selu Celu Mish Softplus Softsign Sin Cos Tan Asin Acos Atan Sinh Cosh "
    "Floor Ceil Round Sign Clip Min Max Mean Sum Mod BitShift Equal Greater GreaterOrEqual Less LessOrEqual And Or Xor "
    "Not Where IsNaN IsInf ThresholdedRelu Shrink Trunc Swish BitwiseAnd BitwiseOr BitwiseXor BitwiseNot Affine"
).split()
for _op in ELEMENTWISE:
    OP_HANDLERS.add(_op, per_output(1))
for _op in ("Softmax", "LogSoftmax", "Hardmax"):
    OP_HANDLERS.add(_op, per_output(5))
OP_HANDLERS.add("LayerNormalization", per_output(5))
OP_HANDLERS.add("com.microsoft.SkipLayerNormalization", per_output(6))
OP_HANDLERS.add("GroupNormalization", per_output(5))
OP_HANDLERS.add("InstanceNormalization", per_output(5))
OP_HANDLERS.add("RMSNormalization", per_output(4))
OP_HANDLERS.add("SimplifiedLayerNormalization", per_output(4))
OP_HANDLERS.add("com.microsoft.SkipSimplifiedLayerNormalization", per_output(5))
OP_HANDLERS.add("BatchNormalization", per_output(2))
OP_HANDLERS.add("LpNormalization", per_output(3))
OP_HANDLERS.add("MeanVarianceNormalization", per_output(5))
OP_HANDLERS.add("com.microsoft.RotaryEmbedding", per_output(3))
for _op in ("ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ArgMax ArgMin ReduceL1 ReduceLogSum CumSum "
            "GlobalAveragePool GlobalMaxPool TopK").split():
    OP_HANDLERS.add(_op, per_input(1))
for _op in ("ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "GlobalLpPool"):
    OP_HANDLERS.add(_op, per_input(2))


@OP_HANDLERS.register("MaxPool", "AveragePool", "LpPool")
def pool(c: Ctx) -> Cost:
    """other = numel(Y) x prod(kernel_shape)."""
    return Cost(other=numel(c.outs()) * numel(tuple(c.attr("kernel_shape"))))


@OP_HANDLERS.register("Resize", "Upsample")
def resize(c: Ctx) -> Cost:
    """other = numel(Y) x points read: nearest 1, linear 2^spatial-rank, cubic 4^spatial-rank."""
    mode = c.attr("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    spatial = max(len(c.outs()) - 2, 1)
    points = {"nearest": 1, "linear": 2 ** spatial, "cubic": 4 ** spatial}.get(mode, 1)
    return Cost(other=numel(c.outs()) * points)


# --- free: shape, data movement, casts, Q/DQ ------------------------------------------------------

FREE_OPS = (
    "Shape Size Reshape Transpose Squeeze Unsqueeze Concat Split SplitToSequence Slice Gather GatherElements GatherND "
    "Scatter ScatterND ScatterElements Expand Tile Identity Flatten Cast CastLike Constant ConstantOfShape Range "
    "QuantizeLinear DequantizeLinear DynamicQuantizeLinear Pad Dropout NonZero EyeLike OneHot Trilu DepthToSpace "
    "SpaceToDepth Compress ReverseSequence Optional OptionalGetElement OptionalHasElement SequenceAt "
    "SequenceConstruct SequenceEmpty SequenceInsert SequenceLength ConcatFromSequence RandomNormal RandomNormalLike "
    "RandomUniform RandomUniformLike Bernoulli Multinomial"
).split()
for _op in FREE_OPS:
    OP_HANDLERS.add(_op, lambda c: FREE)


def handler_for(node: onnx.NodeProto) -> Optional[Handler]:
    domain = node.domain if node.domain not in ("", "ai.onnx") else ""
    key = f"{domain}.{node.op_type}" if domain else node.op_type
    if key in OP_HANDLERS:
        return OP_HANDLERS.get(key)
    if domain in ("com.microsoft",) and node.op_type in OP_HANDLERS:
        return OP_HANDLERS.get(node.op_type)
    return None
