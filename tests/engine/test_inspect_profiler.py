from pathlib import Path

import pytest

from deployprof.engine.inspect import map_to_onnx, parse_engine_info
from deployprof.engine.profiler import summarize_layers
from deployprof.errors import ModelError

DATA = Path(__file__).parent.parent / "data" / "trt"
ORDER = ["/vision/patch/Conv", "/vision/act/Relu", "/vision/blocks.0/attn/MatMul", "/vision/blocks.0/attn/Softmax",
         "/vision/norm/LayerNormalization", "/head/MatMul"]


def test_tensorrt10_detailed_bindings_format():
    e = parse_engine_info((DATA / "inspector_trt10_detailed.json").read_text(), ORDER)
    assert e.format == "bindings" and e.io_tensors == ("images", "image_tokens")
    conv, myelin, q = e.layers
    assert conv.onnx_nodes == ("/vision/patch/Conv", "/vision/act/Relu") and conv.precision == "fp16"
    assert myelin.layer_type == "Myelin" and myelin.onnx_nodes == tuple(ORDER[2:5]) and myelin.precision == "fp32"
    assert q.precision == "int8" and q.onnx_nodes == ()
    assert e.precision_mix() == {"fp16": 1, "fp32": 1, "int8": 1}


def test_tensorrt11_io_tensor_objects_and_split_datatype():
    e = parse_engine_info((DATA / "inspector_trt11_detailed.json").read_text(), ["/decode/MatMul", "/decode/Cast"])
    assert e.format == "io-tensors" and e.io_tensors == ("token", "logits_fp32")
    assert [(l.precision, l.onnx_nodes) for l in e.layers] == [("fp16", ("/decode/MatMul",)), ("fp32", ("/decode/Cast",))]


def test_layer_names_only_verbosity_still_maps_by_name():
    e = parse_engine_info((DATA / "inspector_names_only.json").read_text(), ORDER)
    assert [l.precision for l in e.layers] == [None, None]
    assert e.layers[0].onnx_nodes == ("/vision/patch/Conv", "/vision/act/Relu")
    assert e.layers[1].onnx_nodes == tuple(ORDER[2:5])
    assert e.precision_mix() == {"unknown": 2}


def test_map_to_onnx_ignores_names_it_cannot_find():
    assert map_to_onnx("reformatter 0", "", ORDER) == ()
    assert map_to_onnx("{ForeignNode[/a.../vision/act/Relu]}", "", ORDER) == ("/vision/act/Relu",)


@pytest.mark.parametrize("text", ["not json", "[]", '{"Bindings": []}'])
def test_unknown_inspector_output_is_a_clear_error(text):
    with pytest.raises(ModelError, match="inspector"):
        parse_engine_info(text)


def test_layer_summary_averages_runs_and_keeps_the_slowest():
    e = parse_engine_info((DATA / "inspector_trt10_detailed.json").read_text(), ORDER)
    names = [l.name for l in e.layers]
    totals = {names[0]: 3.0, names[1]: 9.0, names[2]: 0.0, "unmapped": 0.6}
    out = summarize_layers(totals, runs=3, layers=e, stage="vision", top=3)
    assert [l.name for l in out] == [names[1], names[0], "unmapped"]
    assert out[0].mean_ms == pytest.approx(3.0) and out[0].share == pytest.approx(9.0 / 12.6)
    assert out[0].onnx_nodes == tuple(ORDER[2:5]) and out[0].stage == "vision" and out[2].onnx_nodes == ()
