"""build_engine (Polygraphy's loaders plus our own steps) against a recording stand-in for each TensorRT generation:
the calls TensorRT would see, not real engines. "build" records the builder flags set when the engine is built."""
from pathlib import Path

import pytest

from deployprof.engine.api import probe
from deployprof.engine.build import BuildLog, BuildSettings, build_engine
from deployprof.engine.mode import select_mode
from deployprof.errors import BuildError, ConfigError

from .fake_trt import installed, make

DYNAMIC = {"x": ((1, 4), (2, 4), (4, 4))}
STATIC = {"x": ((1, 4), (1, 4), (1, 4))}


def _build(version, precision, tmp_path, profile=DYNAMIC, settings=BuildSettings(), explicit=False, **fake):
    calls = []
    with installed(make(version, calls, **fake)) as trt:
        api = probe(trt)
        mode = select_mode(api, precision, explicit=explicit)
        data, secs = build_engine(api, Path("m.onnx"), mode, profile, settings, tmp_path / "t.cache", BuildLog())
    return data, calls


def _of(calls, kind):
    return [c[1:] for c in calls if c[0] == kind]


def test_tensorrt85_needs_explicit_batch_and_uses_the_fp16_flag(tmp_path):
    data, calls = _build("8.5.2", "fp16", tmp_path)
    assert data == b"ENGINE"
    assert _of(calls, "network_flags") == [(1,)]       # 1 << EXPLICIT_BATCH
    assert _of(calls, "build") == [(("FP16", "TF32"),)]
    assert ("config", "profiling_verbosity", "DETAILED") in calls


def test_tensorrt10_explicit_precision_is_strongly_typed_without_flags(tmp_path):
    _, calls = _build("10.3.0", "int8", tmp_path, explicit=True)
    assert _of(calls, "network_flags") == [(2,)]       # 1 << STRONGLY_TYPED
    assert _of(calls, "build") == [(("TF32",),)]
    _, calls = _build("10.3.0", "int8", tmp_path)
    assert _of(calls, "network_flags") == [(0,)] and _of(calls, "build") == [(("FP16", "INT8", "TF32"),)]


def test_tensorrt11_never_touches_precision_flags(tmp_path):
    for precision in ("fp32", "fp16", "int8"):
        _, calls = _build("11.4.1", precision, tmp_path)
        assert _of(calls, "network_flags") == [(0,)] and _of(calls, "build") == [(("TF32",),)]


def test_every_input_gets_its_range_in_one_optimisation_profile(tmp_path):
    _, calls = _build("10.3.0", "fp32", tmp_path)
    assert _of(calls, "set_shape") == [("x", (1, 4), (2, 4), (4, 4))] and _of(calls, "add_profile") == [()]
    _, calls = _build("10.3.0", "fp32", tmp_path, profile=STATIC, inputs=(("x", (1, 4)),))
    assert _of(calls, "set_shape") == [("x", (1, 4), (1, 4), (1, 4))] and _of(calls, "add_profile") == [()]


def test_timing_cache_is_reused_across_builds(tmp_path):
    _, first = _build("10.3.0", "fp32", tmp_path)
    _, second = _build("10.3.0", "fp32", tmp_path)
    assert _of(first, "timing_cache_set") == [(b"",)] and (tmp_path / "t.cache").exists()
    # The second build starts from the first's timings and merges what it learnt back into the file.
    assert _of(second, "timing_cache_set") == [(b"+t",)] and _of(second, "timing_cache_combine") == [(b"+t",)]
    assert (tmp_path / "t.cache").read_bytes() == b"+t+t"


def test_builder_settings_reach_the_config(tmp_path):
    s = BuildSettings.from_options({"workspace_mib": "512", "opt_level": "5", "tf32": "0"})
    _, calls = _build("10.3.0", "fp32", tmp_path, settings=s)
    assert _of(calls, "workspace") == [(512 << 20,)]
    assert ("config", "builder_optimization_level", 5) in calls and _of(calls, "build") == [((),)]


def test_dla_core_with_gpu_fallback_and_refusal_without_dla(tmp_path):
    s = BuildSettings.from_options({"dla_core": "0"})
    _, calls = _build("10.3.0", "fp16", tmp_path, settings=s, dla_cores=2)
    assert ("config", "default_device_type", "DLA") in calls and ("config", "DLA_core", 0) in calls
    assert ("GPU_FALLBACK",) in _of(calls, "set_flag")
    with pytest.raises(ConfigError, match="0 DLA cores"):
        _build("10.3.0", "fp16", tmp_path, settings=s)


def test_speed_only_int8_sets_placeholder_ranges(tmp_path):
    calls = []
    with installed(make("10.3.0", calls)) as trt:
        api = probe(trt)
        mode = select_mode(api, "fp32", int8_speed_only=True)
        build_engine(api, Path("m.onnx"), mode, DYNAMIC, BuildSettings(), None, BuildLog())
    assert {c[1] for c in calls if c[0] == "dynamic_range"} == {"layer0_out", "layer1_out", "layer2_out", "x"}


def test_parse_and_build_failures_are_one_clear_line(tmp_path):
    with pytest.raises(BuildError, match="could not parse m.onnx: .*No importer registered for op: Foo"):
        _build("10.3.0", "fp32", tmp_path, parse_ok=False)
    with pytest.raises(BuildError, match="could not build m.onnx: .*no implementation for node /bad"):
        _build("10.3.0", "fp32", tmp_path, build_ok=False)


@pytest.mark.parametrize("options,match", [({"workspace": "1"}, "unknown trt provider option"),
                                           ({"opt_level": "9"}, "0-5"), ({"opt_level": "x"}, "integer"),
                                           ({"cuda_graph": "yes"}, "1 or 0")])
def test_bad_settings_are_named(options, match):
    with pytest.raises(ConfigError, match=match):
        BuildSettings.from_options(options)


def test_the_build_log_is_captured_and_shown_with_verbose(tmp_path, caplog):
    with caplog.at_level("INFO", logger="deployprof.engine.build"):
        with pytest.raises(BuildError):
            _build("10.3.0", "fp32", tmp_path, build_ok=False)
    assert any("no implementation for node /bad" in r.getMessage() for r in caplog.records)


def test_weakly_typed_mixed_precision_holds_the_kept_layers_in_fp32(tmp_path):
    calls = []
    with installed(make("10.3.0", calls)) as trt:
        api = probe(trt)
        mode = select_mode(api, "int8-mixed", kept_fp32=("/node1", "/node2"))
        build_engine(api, Path("m.onnx"), mode, DYNAMIC, BuildSettings(), None, BuildLog())
        # layer 1 is known by its metadata only; layer 2 (an int32 output) is left alone; layer 0 is not kept
        assert _of(calls, "layer_precision") == [("(Unnamed Layer* 1)", "FLOAT")]
        assert _of(calls, "output_type") == [("(Unnamed Layer* 1)", 0, "FLOAT")]
        assert ("OBEY_PRECISION_CONSTRAINTS",) in _of(calls, "set_flag")
        assert _of(calls, "build") == [(("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "TF32"),)]
        with pytest.raises(ConfigError, match="none of the 1 FP32-kept nodes matched"):
            build_engine(api, Path("m.onnx"), select_mode(api, "int8-mixed", kept_fp32=("/gone",)), DYNAMIC,
                         BuildSettings(), None, BuildLog())


def test_strongly_typed_mixed_precision_sets_no_constraints(tmp_path):
    _, calls = _build("11.4.1", "int8-mixed", tmp_path)
    assert not _of(calls, "layer_precision") and _of(calls, "build") == [(("TF32",),)]
