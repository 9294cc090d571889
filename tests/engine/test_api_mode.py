import pytest

from deployprof.engine.api import probe
from deployprof.engine.mode import select_mode
from deployprof.errors import ConfigError

from .fake_trt import make


@pytest.fixture(params=["8.5.2", "10.3.0", "11.4.1"])
def api(request):
    return probe(make(request.param, []))


def test_probe_reads_features_not_version_strings():
    a8, a10, a11 = (probe(make(v, [])) for v in ("8.5.2", "10.3.0", "11.4.1"))
    assert (a8.explicit_batch_flag, a8.strongly_typed_flag, a8.fp16_flag, a8.device_memory_v2) == (True, False, True, False)
    assert (a10.explicit_batch_flag, a10.strongly_typed_flag, a10.fp16_flag, a10.device_memory_v2) == (False, True, True, True)
    assert a11.strongly_typed_only and not a10.strongly_typed_only and not a8.strongly_typed_only
    assert a10.user_managed_memory and a10.weights_stat and not a8.weights_stat


def test_fp32_never_sets_precision_flags(api):
    m = select_mode(api, "fp32")
    assert m.flags == () and m.precision == "fp32" and not m.speed_only and m.graph == "artifact"
    assert m.strongly_typed == api.strongly_typed_only


def test_fp16_uses_flags_on_the_fp32_graph_until_tensorrt_11(api):
    m = select_mode(api, "fp16")
    if api.strongly_typed_only:
        assert (m.flags, m.strongly_typed, m.graph) == ((), True, "artifact")
    else:
        assert (m.flags, m.strongly_typed, m.graph) == (("FP16",), False, "fp32-source")


def test_int8_builds_the_calibrated_qdq_graph(api):
    m = select_mode(api, "int8")
    assert m.graph == "artifact" and not m.speed_only
    assert m.flags == (() if api.strongly_typed_only else ("INT8", "FP16"))


def test_explicit_precision_is_strongly_typed_where_the_flag_exists():
    a10, a8 = probe(make("10.3.0", [])), probe(make("8.5.2", []))
    m = select_mode(a10, "fp16", explicit=True)
    assert (m.strongly_typed, m.flags, m.graph) == (True, (), "artifact")
    with pytest.raises(ConfigError, match="TensorRT 9"):
        select_mode(a8, "fp16", explicit=True)


def test_uncalibrated_int8_is_speed_only_and_refused_where_impossible():
    m = select_mode(probe(make("10.3.0", [])), "fp32", int8_speed_only=True)
    assert m.speed_only and m.precision == "int8" and "INT8" in m.flags and "SPEED ONLY" in m.description
    with pytest.raises(ConfigError, match="no INT8 builder flag"):
        select_mode(probe(make("11.4.1", [])), "fp32", int8_speed_only=True)
    with pytest.raises(ConfigError, match="FP32 export"):
        select_mode(probe(make("10.3.0", [])), "fp16", int8_speed_only=True)


def test_ort_only_precisions_are_refused(api):
    with pytest.raises(ConfigError, match="int8-dynamic"):
        select_mode(api, "int8-dynamic")
