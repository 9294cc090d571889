"""FP16 and INT8 artifacts of a tiny preset: built, run on ONNX Runtime CPU, and costed in action space."""
import json

import numpy as np
import onnx
import pytest

from deployprof.accuracy import compare
from deployprof.errors import ConfigError
from deployprof.manifest import load_subject
from deployprof.config import CalibrationConfig
from deployprof.precision import prepare_precision
from deployprof.results import ProfileReport

from ..conftest import FAST, invoke


@pytest.fixture(scope="module")
def variants(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("precisions")
    return {p: prepare_precision(tiny_export, p, out / p) for p in ("fp16", "fp16-naive", "int8", "int8-dynamic")}


def _op_types(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_artifacts_carry_their_precision(tiny_export, variants):
    m16, root16 = load_subject(variants["fp16"])
    assert m16.precision == "fp16" and "Softmax" in m16.precision_info["fp32_kept_ops"]
    g = onnx.load(str(root16 / "denoise.onnx")).graph
    assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # I/O kept FP32
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in g.initializer)
    naive, root_n = load_subject(variants["fp16-naive"])
    assert onnx.load(str(root_n / "denoise.onnx")).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert all(t.dtype in ("float16", "int64") for s in naive.stages for t in s.inputs)
    m8, root8 = load_subject(variants["int8"])
    cal = m8.precision_info["calibration"]
    assert cal["method"] == "minmax" and cal["policy_steps"] == 8 and len(cal["sha256"]) == 64
    assert cal["stage_samples"]["denoise"] == 8 * 4  # every denoising call of every calibration step
    assert {"QuantizeLinear", "DequantizeLinear"} <= _op_types(root8 / "denoise.onnx")
    assert "MatMulInteger" in _op_types(load_subject(variants["int8-dynamic"]).root / "denoise.onnx") or \
        "DynamicQuantizeLinear" in _op_types(load_subject(variants["int8-dynamic"]).root / "denoise.onnx")


def test_accuracy_in_action_space(tiny_export, variants):
    fp16 = compare(tiny_export, variants["fp16"])
    int8 = compare(tiny_export, variants["int8"])
    assert fp16.action.cosine_min > 0.999 and fp16.action.max_abs < 0.1
    assert 0 < fp16.action.max_abs < int8.action.max_abs  # post-training int8 costs more than fp16 here
    assert len(fp16.per_action_dim_mean_abs) == 7 and len(fp16.per_chunk_step_mean_abs) == 8
    assert len(fp16.per_denoise_step_mean_abs) == 4 and fp16.token_agreement is None
    same = compare(tiny_export, tiny_export)
    assert same.action.max_abs == 0 and same.action.cosine_min == pytest.approx(1.0)
    gated = compare(tiny_export, variants["int8"], atol=1e-6, min_cosine=0.9999)
    assert gated.verdict == "FAIL" and gated.rule == "limits: max |error| <= 1e-06, min cosine >= 0.9999"
    assert (fp16.verdict, int8.backend, int8.reference) == ("PASS", "ort-cpu", "ort-cpu:fp32")


def test_fp32_kept_loop_beats_all_fp16_on_flow_matching(tiny_export, variants):
    """The safe conversion (I/O and loop arithmetic FP32, norms/softmax/sin/cos FP32) against all-FP16.
    On random tiny weights the gap is small (docs/BENCHMARKS.md has the figures); it must not be reversed."""
    kept = compare(tiny_export, variants["fp16"])
    naive = compare(tiny_export, variants["fp16-naive"])
    assert kept.action.mean_abs < naive.action.mean_abs and kept.action.rel_l2 < naive.action.rel_l2


def test_discrete_action_token_agreement(tmp_path):
    from deployprof.export import export_preset

    export_preset("openvla-tiny", tmp_path / "fp32", cached=True)
    dyn = prepare_precision(tmp_path / "fp32", "fp16", tmp_path / "fp16")
    r = compare(tmp_path / "fp32", dyn, samples=4)
    assert r.token_agreement is not None and 0.0 <= r.token_agreement <= 1.0


def test_calibration_from_recorded_observations(tiny_export, tmp_path):
    from deployprof.inputs import make_inputs

    manifest, _ = load_subject(tiny_export)
    rec = tmp_path / "recorded"
    rec.mkdir()
    for i in range(3):
        np.savez(rec / f"obs{i}.npz", **make_inputs(manifest.external_inputs(), seed=100 + i))
    out = prepare_precision(tiny_export, "int8", tmp_path / "int8", CalibrationConfig(method="percentile", source=str(rec)))
    cal = load_subject(out).manifest.precision_info["calibration"]
    assert cal["policy_steps"] == 3 and "recorded observations" in cal["source"] and cal["method"] == "percentile"


def test_bad_precision_requests(tiny_export, tmp_path, variants):
    with pytest.raises(ConfigError, match="unknown precision 'fp9'"):
        prepare_precision(tiny_export, "fp9", tmp_path / "x")
    with pytest.raises(ConfigError, match="nvfp4 .* Model Optimizer"):
        prepare_precision(tiny_export, "nvfp4", tmp_path / "x")
    with pytest.raises(ConfigError, match="already fp16"):
        prepare_precision(variants["fp16"], "int8", tmp_path / "y")


def test_profile_with_precisions_reports_speedup_and_accuracy(tiny_export, tmp_path):
    res = invoke(["profile", str(tiny_export), "--out", str(tmp_path / "p"), "--precisions", "fp32,fp16,int8",
                  *FAST])
    assert res.exit_code == 0, res.output
    rep = ProfileReport.read(tmp_path / "p" / "report.json")
    assert {r.precision for r in rep.runs} == {"fp32", "fp16", "int8"}
    assert all(r.speedup_vs_fp32 > 0 for r in rep.runs if r.precision != "fp32")
    acc = [r.accuracy for r in rep.runs if r.stage == "policy_step"]
    assert [a.precision for a in acc] == ["fp32", "fp16", "int8"] and "calibration" in rep.precision_info["int8"]
    assert acc[0].action.max_abs == 0.0 and acc[2].action.max_abs > acc[1].action.max_abs > 0


def test_compare_precision_command_exit_codes(tiny_export):
    res = invoke(["compare-precision", str(tiny_export), "--precisions", "fp16", "--samples", "2", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["accuracy"][0]["precision"] == "fp16"
    res = invoke(["compare-precision", str(tiny_export), "--precisions", "int8", "--samples", "2",
                  "--atol", "1e-9"])
    assert res.exit_code == 3 and "FAIL" in res.output


def test_fp16_keeps_the_fp32_interface_of_every_stage(tmp_path):
    """Octo's trunk ends in a slice of a kept-FP32 norm; the converter left that output FP16 once."""
    from deployprof.export import export_preset

    export_preset("octo-tiny", tmp_path / "fp32", cached=True)
    out = prepare_precision(tmp_path / "fp32", "fp16", tmp_path / "fp16")
    for s in load_subject(out).manifest.stages:
        a, b = (onnx.load(str(d / s.file)).graph for d in (tmp_path / "fp32", out))
        assert [o.type.tensor_type.elem_type for o in a.output] == [o.type.tensor_type.elem_type for o in b.output]
    assert compare(tmp_path / "fp32", out, samples=2).action.cosine_min > 0.99


@pytest.mark.parametrize("precision", ["int8", "int8-dynamic", "fp16"])
def test_a_model_with_external_weights_gets_every_variant(tmp_path, monkeypatch, precision):
    """torch's dynamo exporter writes weights to MODEL.onnx.data by default; preparing a variant once failed twice:
    the quantizer's private copy lost its .data file, and onnx refused a .data name that existed in the working
    directory (the user's own folder). Both reproduced here: run from the model's folder."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = (numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
              for n, s in (("w1", (64, 128)), ("w2", (128, 8))))
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                           helper.make_node("MatMul", ["r", "w2"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [w1, w2])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(model), save_as_external_data=True,
              location="m.onnx.data", size_threshold=0)
    monkeypatch.chdir(tmp_path)
    out = prepare_precision(model, precision, tmp_path / "variant")
    assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "m.onnx.data", "manifest.json"]
    y = ort.InferenceSession(str(out / "m.onnx")).run(None, {"x": np.ones((1, 64), np.float32)})[0]
    assert y.shape == (1, 8) and np.isfinite(y).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data", "variant"]


def test_compare_precision_takes_a_limit_per_action_dimension(tiny_export):
    res = invoke(["compare-precision", str(tiny_export), "--precisions", "int8", "--samples", "2", "--atol", "1,1,1"])
    assert res.exit_code == 1 and "error: --atol gives 3 limits, but the policy's actions have 7 dimensions" in res.output
    res = invoke(["compare-precision", str(tiny_export), "--precisions", "int8", "--samples", "2", "--json",
                  "--atol", "9,9,9,9,9,9,1e-9"])
    a = json.loads(res.stdout)["accuracy"][0]
    assert res.exit_code == 3 and a["failed_dims"] == [6] and "dimension 6" in a["rule"] and len(a["atol_per_dim"]) == 7
