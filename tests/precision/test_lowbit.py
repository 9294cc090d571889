"""The 2026 precisions (bf16, fp8, int4) of a tiny preset: the graphs each makes, run on ONNX Runtime CPU and costed
in action space (the writers themselves: tests/graph/test_lowbit.py)."""
import onnx
import pytest
from onnx import TensorProto

from deployprof.accuracy import compare
from deployprof.manifest import load_subject
from deployprof.policy import open_policy
from deployprof.precision import prepare_precision

NEW = ("bf16", "fp8", "int4")


@pytest.fixture(scope="module")
def lowbit(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("lowbit")
    return {p: prepare_precision(tiny_export, p, out / p) for p in NEW}


def _graph(path):
    return onnx.load(str(path)).graph


def test_each_graph_is_the_form_tensorrt_builds(lowbit):
    for p in NEW:
        m, root = load_subject(lowbit[p])
        assert m.precision == p and "format" in m.precision_info
        g = _graph(root / "denoise.onnx")
        assert g.input[0].type.tensor_type.elem_type == TensorProto.FLOAT   # the host loop stays FP32
        types = {t.data_type for t in g.initializer}
        dq = [n for n in g.node if n.op_type == "DequantizeLinear"]
        if p == "bf16":
            assert TensorProto.BFLOAT16 in types and TensorProto.FLOAT16 not in types and not dq
        elif p == "fp8":
            assert TensorProto.FLOAT8E4M3FN in types and any(n.op_type == "QuantizeLinear" for n in g.node)
            assert any(a.name == "axis" for n in dq for a in n.attribute)           # per-channel weights
            assert "amax" in m.precision_info["calibration"]["method"]
        else:
            assert m.precision_info["int4_method"] == "awq-clip" and m.precision_info["calibration"]["method"] == "awq-clip"
            assert TensorProto.INT4 in types and not any(n.op_type == "QuantizeLinear" for n in g.node)
            assert {a.i for n in dq for a in n.attribute if a.name == "block_size"} == {32}
            assert not any(n.domain == "com.microsoft" for n in g.node)             # no ONNX Runtime-only op


def test_each_runs_here_and_is_judged_in_action_space(tiny_export, lowbit):
    results = {p: compare(tiny_export, lowbit[p], samples=4) for p in NEW}
    for p, r in results.items():
        assert r.precision == p and 0 < r.action.max_abs and r.action.cosine_min > 0.95, (p, r.action)
        assert len(r.per_action_dim_max_abs) == 7 and max(r.per_action_dim_max_abs) == pytest.approx(r.action.max_abs)


def test_the_cpu_says_what_it_emulates(lowbit):
    for p, emulated in (("bf16", True), ("fp8", True), ("int4", False)):
        subject = load_subject(lowbit[p])
        with open_policy(subject, "ort-cpu") as step:
            effective = {b.build_info.precision_effective for b in step.backends.values()}
        assert all(("(emulated" in e) == emulated and e.startswith(p) for e in effective), effective


def test_torch_runs_bf16_itself(tiny_export, lowbit):
    r = compare(tiny_export, lowbit["bf16"], backend="torch", samples=2)
    assert r.backend == "torch" and 0 < r.action.max_abs and r.action.cosine_min > 0.99
    with open_policy(load_subject(lowbit["bf16"]), "torch") as step:
        assert {b.build_info.precision_effective for b in step.backends.values()} == {"bf16 (torch.autocast)"}
