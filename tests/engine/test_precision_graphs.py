"""Each precision's graphs against NVIDIA's own TensorRT bindings, as far as a CPU can check (no library here can
parse or build): every data type the graph's tensors need is a DataType member of the generation, and no op lies
outside the ONNX domain (MatMulNBits is ONNX Runtime's, not TensorRT's)."""
import pytest

from deployprof.engine.graph_types import tensorrt_needs
from deployprof.manifest import load_subject
from deployprof.precision import prepare_precision

from .real_trt import api

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8", "int4")
NEEDS = {"fp16": "HALF", "bf16": "BF16", "int8": "INT8", "fp8": "FP8", "int4": "INT4"}


@pytest.fixture(scope="module")
def graphs(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("trt-graphs")
    return {p: prepare_precision(tiny_export, p, out / p) for p in PRECISIONS}


@pytest.mark.parametrize("gen", ["10.13", "11.4"])
def test_each_precision_needs_only_what_the_generation_has(graphs, gen):
    members = set(api(gen)["enums"]["DataType"])
    for p, folder in graphs.items():
        subject = load_subject(folder)
        for s in subject.manifest.stages:
            types, foreign = tensorrt_needs(subject.root / s.file)
            assert types <= members and not foreign, (gen, p, s.name, types - members, foreign)
            if p in NEEDS:
                assert NEEDS[p] in types, (p, s.name, types)


def test_tensorrt_8_6_lacks_what_bf16_and_int4_need():
    members = set(api("8.6")["enums"]["DataType"])
    assert "BF16" not in members and "INT4" not in members and "FP8" in members
