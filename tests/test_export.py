"""Export checks and a policy step run from the manifest alone."""
import numpy as np
import onnx
import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.inputs import make_inputs
from deployprof.manifest import load_subject
from deployprof.policy import open_policy


def test_manifest_describes_stages_and_loop(tiny_export):
    manifest, root = load_subject(tiny_export)
    assert [s.name for s in manifest.stages] == ["vision", "prefix", "denoise"]
    assert manifest.schedule[-1].loop.steps == 4 and manifest.exporter in ("dynamo", "torchscript")
    for s in manifest.stages:
        onnx.checker.check_model(str(root / s.file))
        assert s.parity_max_abs_err is not None and s.parity_max_abs_err < 1e-3
        batch_dims = [t.shape for t in s.inputs]
        assert all("batch" in shape for shape in batch_dims)
    ids = next(t for t in manifest.stages[1].inputs if t.name == "prompt_ids")
    assert ids.dist == "int" and ids.high == 512


@pytest.mark.parametrize("batch", [1, 3])
def test_policy_step_from_manifest_alone(tiny_export, batch):
    """No PyTorch at run time: ONNX Runtime stages wired by the manifest produce the documented action chunk."""
    subject = load_subject(tiny_export)
    manifest = subject.manifest
    with open_policy(subject, "ort-cpu") as step:
        env = step(make_inputs(manifest.external_inputs(), batch=batch, seed=0))
    actions = env[manifest.action_output]
    assert actions.shape == (batch, 8, 7) and np.isfinite(actions).all()
    assert step.stage_ns["denoise"] > 0 and step.steps == 1


def test_torch_backend_matches_onnx_runtime(tiny_export):
    manifest, root = load_subject(tiny_export)
    stage = manifest.stage("denoise")
    feeds = make_inputs(stage.inputs, batch=2, seed=3)
    with BACKENDS.get("torch")(stage, root, manifest, BackendOptions()) as tb, \
            BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions()) as ob:
        a, b = tb.run(feeds)["velocity"], ob.run(feeds)["velocity"]
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_torchscript_fallback_exporter(tmp_path):
    pytest.importorskip("torch")
    from deployprof.export import export_preset

    manifest, _ = export_preset("tiny-vla", tmp_path, exporter="torchscript")
    assert manifest.exporter == "torchscript" and all(s.parity_max_abs_err < 1e-3 for s in manifest.stages)


def test_bad_preset_errors(tmp_path):
    from deployprof.errors import ConfigError
    from deployprof.presets import load_preset

    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_preset("nope")
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nfamily: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_preset(bad)
    bad.write_text("name: x\nfamily: pi0\n")
    with pytest.raises(ConfigError, match="missing field 'description'"):
        load_preset(bad)
