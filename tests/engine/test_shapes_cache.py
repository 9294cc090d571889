import json

import pytest

from deployprof.engine.cache import EngineCache, cache_key, timing_cache_path
from deployprof.engine.shapes import derive_profile, growing_ranges, is_static
from deployprof.errors import ConfigError
from deployprof.manifest import CallSpec, LoopSpec, Manifest, StageSpec, TensorSpec
from deployprof.results import EngineProvenance
from deployprof.serial import to_dict


def _decoder_manifest():
    decode = StageSpec("decode", "decode.onnx",
                       inputs=(TensorSpec("token", "int64", ("batch", 1)),
                               TensorSpec("past_k", "float32", (2, "batch", 4, "past", 16)),
                               TensorSpec("w", "float32", (8, 8))),
                       outputs=(TensorSpec("logits", "float32", ("batch", 512)),), weight_inputs=("w",))
    loop = LoopSpec(kind="autoregressive", steps=7, state="token", output="logits", cache=(("past_k", "present_k"),),
                    growing_dim="past", bins=256, result="actions")
    return Manifest(schema_version=1, stages=(decode,), schedule=(CallSpec("decode", 6, loop),),
                    default_dims={"past": 24})


def test_growing_kv_cache_spans_every_decode_length():
    m = _decoder_manifest()
    assert growing_ranges(m, "decode", {"past": 24}) == {"past": (24, 29)}
    p = derive_profile(m, m.stages[0], batch=2, dims={}, shapes={})
    assert p["token"] == ((2, 1), (2, 1), (2, 1))
    assert p["past_k"] == ((2, 2, 4, 24, 16), (2, 2, 4, 29, 16), (2, 2, 4, 29, 16))
    assert "w" not in p and not is_static(p)


def test_shape_override_fixes_an_input_and_missing_dims_are_named():
    m = _decoder_manifest()
    p = derive_profile(m, m.stages[0], 1, {}, {"past_k": (2, 1, 4, 30, 16)})
    assert p["past_k"] == ((2, 1, 4, 30, 16),) * 3
    bare = Manifest(schema_version=1, stages=m.stages, schedule=(CallSpec("decode"),))
    with pytest.raises(ConfigError, match="--dim past=N"):
        derive_profile(bare, bare.stages[0], 1, {}, {})


KEY_ARGS = dict(onnx_sha256="ab" * 32, precision="fp16", build_mode="flags", shape_profile={"x": ((1, 4), (1, 4), (1, 4))},
                tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7", builder_settings={"opt_level": "3"})


@pytest.mark.parametrize("field,value", [("onnx_sha256", "cd" * 32), ("precision", "int8"), ("build_mode", "typed"),
                                         ("shape_profile", {"x": ((2, 4), (2, 4), (2, 4))}), ("tensorrt_version", "10.4.0"),
                                         ("gpu_name", "RTX 4090"), ("compute_capability", "8.9"),
                                         ("builder_settings", {"opt_level": "5"})])
def test_cache_key_changes_with_everything_that_changes_the_engine(field, value):
    assert cache_key(**KEY_ARGS) == cache_key(**dict(KEY_ARGS))
    assert cache_key(**{**KEY_ARGS, field: value}) != cache_key(**KEY_ARGS)


def _prov(key, **kw):
    base = dict(cache_key=key, engine_path="e", reused_from_cache=False, onnx_path="m.onnx", onnx_sha256="ab" * 32,
                tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7", cuda_runtime_version="12.6",
                driver_version="12.6", precision="fp16", build_mode="flags", builder_flags=("FP16",), strongly_typed=False,
                speed_only=False, shape_profile={"x": ((1, 4), (1, 4), (1, 4))}, builder_settings={}, build_s=1.5,
                engine_bytes=6, layer_count=2, layer_precisions={"fp16": 2}, inspector_format="bindings",
                device_memory_bytes=1024, weights_bytes=4096)
    return EngineProvenance(**{**base, **kw})


def test_cache_round_trip_and_refusal_of_another_target(tmp_path):
    cache, key = EngineCache(tmp_path), cache_key(**KEY_ARGS)
    assert cache.lookup(key, "10.3.0", "Orin", "8.7")[2] == "not cached"
    cache.store(key, b"ENGINE", _prov(key))
    data, prov, why = cache.lookup(key, "10.3.0", "Orin", "8.7")
    assert data == b"ENGINE" and prov == _prov(key) and why is None
    for args, word in ((("10.4.0", "Orin", "8.7"), "TensorRT"), (("10.3.0", "RTX 4090", "8.7"), "GPU"),
                       (("10.3.0", "Orin", "8.9"), "compute capability")):
        data, prov, why = cache.lookup(key, *args)
        assert data is None and word in why
    cache.paths(key)[0].write_bytes(b"ENG")  # truncated engine
    assert "truncated" in cache.lookup(key, "10.3.0", "Orin", "8.7")[2]
    cache.paths(key)[1].write_text("{not json")
    assert "unreadable" in cache.lookup(key, "10.3.0", "Orin", "8.7")[2]
    assert json.loads(json.dumps(to_dict(_prov(key))))["shape_profile"]["x"] == [[1, 4], [1, 4], [1, 4]]


def test_timing_cache_is_per_tensorrt_and_architecture(tmp_path):
    assert timing_cache_path(tmp_path, "10.3.0", "8.7").name == "timing-trt10.3.0-sm87.cache"
    assert timing_cache_path(tmp_path, "10.3.0", "8.7") != timing_cache_path(tmp_path, "10.3.0", "8.9")
