"""ONNX Runtime provenance and availability: the module that ran, installs that conflict, provider libraries
that cannot load. Real metadata scans and a real dynamic loader, on small files made here."""
import shutil
import subprocess

import onnxruntime
import pytest

from deployprof.backends import BACKENDS, BackendOptions
from deployprof.backends import ort as ort_mod
from deployprof.manifest import load_subject

from ..conftest import invoke


def _fake_distribution(root, name, version):
    """A dist-info folder claiming the onnxruntime module, as a second install would leave behind."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text("onnxruntime\n")
    (info / "RECORD").write_text("onnxruntime/__init__.py,,\n")


@pytest.fixture
def second_install(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "onnxruntime", "0.0.1")
    _fake_distribution(tmp_path, "onnxruntime-gpu", "0.0.2")
    monkeypatch.syspath_prepend(str(tmp_path))
    ort_mod.ort_distributions.cache_clear()
    yield
    ort_mod.ort_distributions.cache_clear()


def test_results_name_the_imported_module_not_the_metadata(tiny_export, second_install):
    manifest, root = load_subject(tiny_export)
    with BACKENDS.get("ort-cpu")(manifest.stages[0], root, manifest, BackendOptions(intra_op_threads=1)) as b:
        assert b.build_info.runtime_version == onnxruntime.__version__ != "0.0.1"
        assert b.build_info.runtime_location == onnxruntime.__file__


def test_two_installs_of_the_module_are_a_loud_warning(second_install):
    warning = ort_mod.ort_conflict()
    assert "onnxruntime 0.0.1" in warning and "onnxruntime-gpu 0.0.2" in warning
    assert onnxruntime.__version__ in warning and "pip uninstall" in warning
    for name in ("ort-cpu", "ort-cuda", "ort-trt"):
        assert BACKENDS.get(name).availability().warning == warning


def test_backends_command_prints_the_conflict(second_install):


    res = invoke(["backends"])
    assert res.exit_code == 0 and "warning: " in res.output and "onnxruntime-gpu 0.0.2" in res.output


@pytest.fixture
def lib_with_missing_dependency(tmp_path):
    """A real shared library whose DT_NEEDED names a library that is no longer there (as a provider library
    that needs libnvinfer on a machine without TensorRT)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test library")
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "prov.c").write_text("int dep(void); int prov(void) { return dep(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", tmp_path / "libdeployprof_gone.so", tmp_path / "dep.c"], check=True)
    lib = tmp_path / "libonnxruntime_providers_tensorrt.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, tmp_path / "prov.c", f"-L{tmp_path}", "-ldeployprof_gone"], check=True)
    (tmp_path / "libdeployprof_gone.so").unlink()
    return lib


def test_missing_library_is_named(lib_with_missing_dependency):
    assert ort_mod.missing_library(lib_with_missing_dependency) == "libdeployprof_gone.so"


def test_listed_provider_whose_library_cannot_load_is_unavailable(lib_with_missing_dependency, monkeypatch):
    """`backends` once said ort-trt: yes where the build listed the provider but TensorRT was not installed."""
    capi = lib_with_missing_dependency.parent / "capi"
    capi.mkdir()
    lib_with_missing_dependency.rename(capi / lib_with_missing_dependency.name)
    monkeypatch.setattr(ort_mod, "ort_runtime", lambda: ("9.9.9", str(capi.parent / "__init__.py")))
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    a = BACKENDS.get("ort-trt").availability()
    assert not a.ok and "libdeployprof_gone.so not found" in a.reason and "TensorRT" in a.reason
    cuda = BACKENDS.get("ort-cuda").availability()
    assert not cuda.ok and "libonnxruntime_providers_cuda.so is not in" in cuda.reason


def test_outputs_a_runtime_kept_to_itself_are_an_error_not_a_keyerror(tiny_export, monkeypatch):
    """ONNX Runtime's CUDA-graph replay returns nothing to a host-fed run(); the policy step then died with
    `internal error … KeyError: 'image_tokens'`. The backend now says which outputs did not come back."""
    from deployprof.errors import BuildError
    from deployprof.inputs import make_inputs

    manifest, root = load_subject(tiny_export)
    stage = manifest.stages[0]
    with BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions(intra_op_threads=1)) as b:
        feeds = make_inputs(stage.inputs, batch=1, seed=0, dims=manifest.default_dims)
        assert set(b.run(feeds)) == {t.name for t in stage.outputs}
        monkeypatch.setattr(b, "_run", lambda feeds: {})
        with pytest.raises(BuildError, match=f"stage {stage.name} returned no value for .*{stage.outputs[0].name}"):
            b.run(feeds)


def test_cuda_graphs_are_asked_for_with_cuda_graph_only(tiny_export):
    """enable_cuda_graph=1 as a provider option once captured graphs while the run recorded cuda_graph: false."""
    from deployprof.backends import check_provider_options
    from deployprof.config import MeasureConfig
    from deployprof.errors import ConfigError
    from deployprof.runner import RunSpec, run_backend

    for key in ("enable_cuda_graph", "trt_cuda_graph_enable"):
        with pytest.raises(ConfigError, match=f"--provider-option {key}: use --cuda-graph on"):
            check_provider_options(["ort-cuda", "ort-trt"], {key: "1"})
    assert BACKENDS.get("ort-cuda").policy_step_blocker(BackendOptions()) is None
    graph = BackendOptions(cuda_graph=True)
    with pytest.raises(ConfigError, match="ort-cuda under --cuda-graph times each stage's graph replay"):
        run_backend(RunSpec(subject=str(tiny_export), backend="ort-cuda", config=MeasureConfig(backend_options=graph)))


def test_a_key_for_another_backend_of_the_run_is_left_out_not_refused(tiny_export):
    """`profile --backends trt,ort-cpu --provider-option layer_profile_runs=20`: ort-cpu's worker gets none of it."""
    from deployprof.backends import check_provider_options
    from deployprof.errors import ConfigError
    from deployprof.config import MeasureConfig
    from deployprof.runner import RunSpec, run_backend

    opts = {"layer_profile_runs": "20"}
    check_provider_options(["trt", "ort-cpu"], opts)
    with pytest.raises(ConfigError, match="layer_profile_runs is not an option of ort-cpu"):
        check_provider_options(["ort-cpu"], opts)
    runs = run_backend(RunSpec(subject=str(tiny_export), backend="ort-cpu", stages=False, config=MeasureConfig(
        warmup_iterations=1, warmup_min_s=0, iterations=3,
        backend_options=BackendOptions(intra_op_threads=1, provider_options=opts))))
    assert runs and "layer_profile_runs" not in runs[0].build.options


def test_ort_cuda_computes_on_a_stream_of_ours_so_events_give_device_time(tiny_export, monkeypatch):
    """user_compute_stream (ONNX Runtime >= 1.17): the provider computes on our stream, events there time it."""
    from deployprof.engine import cuda

    made = []

    class FakeRuntime:
        def stream(self):
            return 1234

        def handle(self, stream):
            return int(stream)

        def event(self):
            made.append(object())
            return made[-1]

        record = elapsed_ms = destroy_event = close = lambda self, *a: None

    manifest, root = load_subject(tiny_export)
    stage, cls = manifest.stages[0], BACKENDS.get("ort-cuda")
    monkeypatch.setattr(cuda, "which_bindings", lambda: "cuda-bindings")
    monkeypatch.setattr(cuda, "open_runtime", lambda device: FakeRuntime())
    b = cls(stage, root, manifest, BackendOptions())
    b._own_stream()
    assert b._provider_options()["user_compute_stream"] == "1234"
    theirs = cls(stage, root, manifest, BackendOptions(provider_options={"user_compute_stream": "99"}))
    theirs._own_stream()
    assert theirs._stream is None and "user's stream" in theirs._device_time_note
    assert theirs._provider_options()["user_compute_stream"] == "99"
    monkeypatch.setattr(cuda, "which_bindings", lambda: None)
    none = cls(stage, root, manifest, BackendOptions())
    none._own_stream()
    assert "user_compute_stream" not in none._provider_options() and "cuda-bindings" in none._device_time_note


def test_ort_trt_records_what_its_cached_engines_were_built_from(tiny_export, tmp_path):
    import json

    from deployprof.results import BuildInfo

    manifest, root = load_subject(tiny_export)
    b = BACKENDS.get("ort-trt")(manifest.stages[0], root, manifest, BackendOptions(cache_dir=str(tmp_path)))
    path = b.write_provenance(BuildInfo("ort-trt", "onnxruntime", "1.31.1", "cuda:0", "fp32", "fp32"))
    rec = json.loads(path.read_text())
    assert path.parent == tmp_path / "ort-trt" and rec["precision"] == "fp32" and len(rec["onnx_sha256"]) == 64
    assert rec["provider_options"]["trt_engine_cache_path"] == str(tmp_path / "ort-trt")
    assert rec["runtime"] == "onnxruntime 1.31.1"
