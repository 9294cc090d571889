import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.errors import BackendUnavailableError, ConfigError
from deployprof.manifest import load_target


def test_every_backend_registered_and_probe_never_raises():
    assert {"ort-cpu", "ort-cuda", "ort-trt", "trt", "torch"} <= set(BACKENDS)
    for _, cls in BACKENDS.items():
        a = cls.availability()
        assert isinstance(a.ok, bool) and a.reason


def test_probe_failure_is_a_reason(monkeypatch):
    cls = BACKENDS.get("ort-cpu")
    monkeypatch.setattr(cls, "_availability", classmethod(lambda c: 1 / 0))
    a = cls.availability()
    assert not a.ok and "ZeroDivisionError" in a.reason


def test_trt_says_why_it_is_unavailable(tiny_export):
    manifest, root = load_target(tiny_export)
    b = BACKENDS.get("trt")(manifest.stages[0], root, manifest, BackendOptions())
    with pytest.raises(BackendUnavailableError, match="backend trt is unavailable"):
        b.load()


def test_torch_refuses_a_reduced_precision_export(tiny_export, tmp_path):
    from deployprof.precision import prepare_precision

    manifest, root = load_target(prepare_precision(tiny_export, "fp16", tmp_path / "fp16"))
    b = BACKENDS.get("torch")(manifest.stages[0], root, manifest, BackendOptions())
    with pytest.raises(ConfigError, match="not this 'fp16' one"):
        b.load()


def test_ort_session_records_active_providers(tiny_export):
    manifest, root = load_target(tiny_export)
    with BACKENDS.get("ort-cpu")(manifest.stages[0], root, manifest, BackendOptions(intra_op_threads=1)) as b:
        assert b.build_info.providers_active == ("CPUExecutionProvider",)
        assert b.build_info.options["intra_op_threads"] == "1" and b.load_ms > 0
