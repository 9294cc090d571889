import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.errors import BackendUnavailableError, ConfigError
from deployprof.manifest import load_subject

from ..conftest import invoke


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


def test_an_unavailable_backend_refuses_to_load_with_its_reason(tiny_export):
    """Whichever backends this machine lacks (TensorRT here; maybe none on the GPU box) say why when loaded."""
    manifest, root = load_subject(tiny_export)
    missing = [name for name, cls in BACKENDS.items() if not cls.availability().ok]
    if not missing:
        pytest.skip("every backend is available on this machine")
    for name in missing:
        b = BACKENDS.get(name)(manifest.stages[0], root, manifest, BackendOptions())
        reason = BACKENDS.get(name).availability().reason
        with pytest.raises(BackendUnavailableError, match=f"backend {name} is unavailable") as exc:
            b.load()
        assert reason in str(exc.value)


def test_torch_refuses_a_reduced_precision_export(tiny_export, tmp_path):
    from deployprof.precision import prepare_precision

    manifest, root = load_subject(prepare_precision(tiny_export, "fp16", tmp_path / "fp16"))
    b = BACKENDS.get("torch")(manifest.stages[0], root, manifest, BackendOptions())
    with pytest.raises(ConfigError, match="not this 'fp16' one"):
        b.load()


def test_ort_session_records_active_providers(tiny_export):
    manifest, root = load_subject(tiny_export)
    with BACKENDS.get("ort-cpu")(manifest.stages[0], root, manifest, BackendOptions(intra_op_threads=1)) as b:
        assert b.build_info.providers_active == ("CPUExecutionProvider",)
        assert b.build_info.options["intra_op_threads"] == "1" and b.load_ms > 0


def test_a_backend_is_used_only_while_open(tiny_export):
    from deployprof.backends.base import open_backends
    from deployprof.errors import BuildError

    manifest, root = load_subject(tiny_export)
    b = BACKENDS.get("ort-cpu")(manifest.stages[0], root, manifest, BackendOptions())
    with pytest.raises(BuildError, match="not open"):
        b.run({})
    with b:
        assert open_backends() == ["ort-cpu/vision"]
        with pytest.raises(BuildError, match="already loaded"):
            b.load()
    assert open_backends() == []
    for use in (lambda: b.run({}), lambda: b.bind({})):
        with pytest.raises(BuildError, match="used before load\\(\\) or after close\\(\\)"):
            use()
    b.close()  # closing twice is harmless


def test_open_policy_closes_every_stage_when_one_fails_to_load(tiny_export, monkeypatch):
    from deployprof.backends.base import open_backends
    from deployprof.errors import BuildError
    from deployprof.policy import open_policy

    cls = BACKENDS.get("ort-cpu")
    real = cls._load

    def load(self):
        if self.stage.name == "denoise":
            raise BuildError("denoise does not build")
        return real(self)

    monkeypatch.setattr(cls, "_load", load)
    with pytest.raises(BuildError, match="denoise does not build"):
        with open_policy(load_subject(tiny_export), "ort-cpu"):
            pass
    assert open_backends() == []


def test_a_backend_that_cannot_share_an_engine_refuses_concurrency(tiny_export):


    assert not BACKENDS.get("trt").supports_concurrency and BACKENDS.get("ort-trt").supports_concurrency
    res = invoke(["bench", str(tiny_export), "--backend", "trt", "--concurrency", "2"])
    assert res.exit_code == 1 and "error: backend trt cannot share one loaded engine between threads" in res.output


def test_type_stubs_installed_as_tensorrt_are_not_taken_for_tensorrt(monkeypatch, tmp_path):
    """`pip install --no-deps tensorrt-stubs` leaves a bare `tensorrt` package: no Builder, so no TensorRT."""
    import sys

    from deployprof.engine.api import tensorrt_problem

    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.pyi").write_text("class Builder: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    assert "type stubs (tensorrt-stubs) or a placeholder" in tensorrt_problem()
    assert not BACKENDS.get("trt").availability().ok


def test_torch_device_arrays_on_the_cpu_stand_in_for_a_device():
    """The one copy of the device-array helpers (ort-cuda/ort-trt, trt, torch on CUDA), run with CPU torch: arrays
    go in and out as torch tensors, the step runs under inference_mode, and a backend without torch keeps host arrays."""
    import numpy as np
    import torch

    from deployprof.backends.base import Backend, TorchDeviceArrays

    class Arrays(TorchDeviceArrays, Backend):
        def __init__(self, with_torch):
            self.with_torch = with_torch

        def _array_torch(self):
            return torch if self.with_torch else None

        def _array_device(self):
            return "cpu"

        @classmethod
        def _availability(cls):
            return None

        def _load(self):
            pass

        def _run(self, feeds):
            return feeds

    on = Arrays(True)
    t = on.to_device(np.arange(3, dtype=np.float32))
    assert on.has_device_arrays() and isinstance(t, torch.Tensor) and on.to_host(t * 2).tolist() == [0, 2, 4]
    with on.device_context():
        assert torch.is_inference_mode_enabled()
    off = Arrays(False)
    a = np.ones(2)
    assert not off.has_device_arrays() and off.to_device(a) is a and off.to_host(a) is a


def test_a_cuda_graph_is_asked_for_one_way():
    """`--provider-option cuda_graph=1` once captured graphs while the run recorded cuda_graph: false."""
    from deployprof.backends.base import check_provider_options
    from deployprof.errors import ConfigError

    with pytest.raises(ConfigError, match="--provider-option cuda_graph: use --cuda-graph on"):
        check_provider_options(["trt"], {"cuda_graph": "1"})


def test_the_device_is_one_setting():
    """--device is the GPU backends' GPU and torch's device; the old second and third spellings are refused."""
    from deployprof.backends.base import check_provider_options
    from deployprof.config import BackendOptions, MeasureConfig
    from deployprof.errors import ConfigError
    from deployprof.pipeline import check_backends

    assert (BackendOptions().gpu_index, BackendOptions().torch_device) == (0, "cpu")
    assert (BackendOptions(device="cuda:2").gpu_index, BackendOptions(device="cuda:2").torch_device) == (2, "cuda:2")
    assert BackendOptions(device="cuda").gpu_index == 0
    for bad in ("gpu", "cuda:", "cuda:x", "cuda:1:2", ""):
        with pytest.raises(ConfigError, match="--device expects cpu, cuda or cuda:N"):
            BackendOptions(device=bad)
    with pytest.raises(ConfigError, match="--provider-option device_id: use --device cuda:N"):
        check_provider_options(["ort-cuda"], {"device_id": "1"})
    cpu = MeasureConfig(backend_options=BackendOptions(device="cpu"))
    with pytest.raises(ConfigError, match="--device cpu: ort-cuda, trt run on a GPU"):
        check_backends(["ort-cpu", "ort-cuda", "trt"], False, lambda s: None, cpu)
    assert check_backends(["ort-cpu"], False, lambda s: None, cpu).names == ("ort-cpu",)
