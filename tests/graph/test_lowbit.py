"""The graph writers of the 2026 precisions on toy graphs, against numpy (and INT4 against ONNX Runtime's own
quantizer): FP8 E4M3 Q/DQ, INT4 blocks (RTN and the awq-clip search), BF16 retyping and its CPU emulation."""
import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployprof.graph.lowbit import FP8_MAX, emulate_bf16, int4_scales, quantize_fp8, quantize_int4, to_bf16


def _matmul_model(w: np.ndarray, rows: int = 4):
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, w.shape[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, w.shape[1]])],
                          [numpy_helper.from_array(w, "W")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_fp8_matches_numpy_e4m3_with_per_channel_scales():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((16, 8)) * np.linspace(0.01, 10, 8)).astype(np.float32)   # channels of unlike scale
    x = rng.standard_normal((4, 16)).astype(np.float32)
    q = quantize_fp8(_matmul_model(w), [{"x": x}])
    sw = np.abs(w).max(axis=0) / FP8_MAX
    wq = (w / sw).astype(ml_dtypes.float8_e4m3fn).astype(np.float32) * sw
    sx = np.abs(x).max() / FP8_MAX
    xq = (x / sx).astype(ml_dtypes.float8_e4m3fn).astype(np.float32) * sx
    np.testing.assert_allclose(_run(q, x), xq @ wq, rtol=1e-5, atol=1e-5)
    kept = quantize_fp8(_matmul_model(w), [{"x": x}], keep_nodes=("mm",))
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in kept.graph.node)


@pytest.mark.filterwarnings("ignore:the float32 number")
def test_bf16_rounds_from_fp32_and_its_emulation_is_bf16_arithmetic():
    from onnxconverter_common import float16

    w = np.full((4, 2), 1e5, dtype=np.float32)   # above FP16's 65504: the FP16 converter clamps it, BF16 must not
    w[0, 0] = 1.0 + 2 ** -10                     # rounds to 1.0 in BF16 (8 mantissa bits)
    fp32 = _matmul_model(w)
    keep = onnx.ModelProto()
    keep.CopyFrom(fp32)
    converted = float16.convert_float_to_float16(fp32, keep_io_types=True)
    bf = to_bf16(keep, converted)
    stored = numpy_helper.to_array(next(t for t in bf.graph.initializer if t.name == "W")).astype(np.float32)
    assert stored[0, 1] == pytest.approx(1e5, rel=2 ** -8) and stored[0, 0] == 1.0
    x = np.ones((4, 4), dtype=np.float32) * (1 + 2 ** -9)
    rb = lambda a: a.astype(ml_dtypes.bfloat16).astype(np.float32)   # noqa: E731
    np.testing.assert_allclose(_run(emulate_bf16(bf), x), rb(rb(x) @ rb(w)), rtol=1e-6)


def _int4_weights(model) -> np.ndarray:
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    q = next(v for k, v in inits.items() if k.endswith("_int4")).astype(np.float32)
    scale = next(v for k, v in inits.items() if k.endswith("_int4_scale"))
    return q * np.repeat(scale, 32, axis=0)[:q.shape[0]]


def test_int4_rtn_is_onnx_runtimes_rtn_and_fuses_into_matmulnbits(tmp_path):
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    rng = np.random.default_rng(1)
    w = rng.standard_normal((96, 24)).astype(np.float32)
    ours = quantize_int4(_matmul_model(w), None)
    theirs = MatMulNBitsQuantizer(_matmul_model(w), algo_config=DefaultWeightOnlyQuantConfig(
        block_size=32, is_symmetric=True, quant_format=QuantFormat.QDQ))
    theirs.process()
    t = {i.name: numpy_helper.to_array(i) for i in theirs.model.model.graph.initializer}
    np.testing.assert_array_equal(_int4_weights(ours), t["W_DQ_Q4"].astype(np.float32) * np.repeat(t["W_DQ_scales"], 32, axis=0))
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(ours.SerializeToString(), so, providers=["CPUExecutionProvider"])
    assert [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node] == ["MatMulNBits"]


def test_int4_awq_clip_never_does_worse_on_its_activations():
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((64, 16)) * (1 + 9 * (rng.random((64, 16)) < 0.02))).astype(np.float32)   # outliers
    x = (rng.standard_normal((256, 64)) * np.linspace(0.1, 3, 64)).astype(np.float32)
    err = {}
    for name, calib in (("rtn", None), ("clip", x)):
        q, scale = int4_scales(w, calib, 32)
        err[name] = ((x @ (w - q * np.repeat(scale, 32, axis=0))) ** 2).sum(axis=0)
    assert (err["clip"] <= err["rtn"] + 1e-9).all() and err["clip"].sum() < err["rtn"].sum()
    model = quantize_int4(_matmul_model(w, 256), [{"x": x}])
    so = ort.SessionOptions()   # weight-only: activations FP32 (the ort-cpu backend's setting; 4 makes them int8)
    so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "1")
    y = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x @ _int4_weights(model), rtol=1e-4, atol=1e-4)
    kept = quantize_int4(_matmul_model(w), [{"x": x[:4]}], keep_nodes=("mm",))
    assert not any(n.op_type == "DequantizeLinear" for n in kept.graph.node)
