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
    # EngineStat came with 10.14 (NVIDIA's 10.13 bindings have none; 11.4's have it)
    assert a10.user_managed_memory and not a10.weights_stat and a11.weights_stat and not a8.weights_stat


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


class _Engine:
    """What the engine offers per generation: 8.5 device_memory_size only; 10.x the _v2 size and USER_MANAGED;
    10.14+ the engine stats."""
    def __init__(self, calls):
        self.calls, self.device_memory_size, self.device_memory_size_v2 = calls, 100, 200

    def create_execution_context(self, *strategy):
        self.calls.append(("context", tuple(s.name for s in strategy)))
        return self

    def set_device_memory(self, ptr, n):
        self.calls.append(("memory", ptr, n))

    def get_engine_stat(self, stat):
        return 4096


@pytest.mark.parametrize("version,context,owned,weights", [
    ("8.5.2", [("context", ())], None, None),
    ("10.3.0", [("context", ("USER_MANAGED",)), ("memory", 7, 200)], 7, None),
    ("10.14.1", [("context", ("USER_MANAGED",)), ("memory", 7, 200)], 7, 4096),
    ("11.4.1", [("context", ("USER_MANAGED",)), ("memory", 7, 200)], 7, 4096)])
def test_engine_calls_that_differ_per_generation(version, context, owned, weights):
    from deployprof.engine.api import open_context, shape_of, weights_bytes

    from .fake_trt import installed

    calls = []
    with installed(make(version, [])) as trt:
        api = probe(trt)
        engine = _Engine(calls)
        ctx, nbytes, ptr = open_context(api, engine, lambda n: 7)
        assert calls == context and ptr == owned and nbytes == (100 if version.startswith("8") else 200)
        assert weights_bytes(api, engine) == weights
    assert shape_of([2, 3]) == (2, 3)


@pytest.mark.parametrize("precision,base", [("int8-mixed", "int8"), ("fp16-mixed", "fp16")])
def test_mixed_precision_is_typed_by_the_graph_or_held_by_constraints(api, precision, base):
    kept = ("/head/MatMul", "/head/Add")
    m, b = select_mode(api, precision, kept_fp32=kept), select_mode(api, base)
    assert (m.precision, m.graph, m.flags, m.strongly_typed) == (precision, b.graph, b.flags, b.strongly_typed)
    if api.strongly_typed_only:  # the casts / missing Q/DQ are in the graph: nothing to hold
        assert m.fp32_nodes == () and "by the graph's own types" in m.description
    else:
        assert m.fp32_nodes == tuple(sorted(kept)) and "obeyed precision constraints" in m.description
        # another kept set on the same FP32 source graph is another engine (the description is in the cache key)
        assert select_mode(api, precision, kept_fp32=kept[:1]).description != m.description


@pytest.mark.parametrize("precision", ["bf16", "fp8", "int4", "fp8-mixed"])
def test_the_2026_precisions_build_strongly_typed_where_tensorrt_has_it(api, precision):
    if not (api.strongly_typed_only or api.strongly_typed_flag):
        with pytest.raises(ConfigError, match="strongly typed"):
            select_mode(api, precision)
        return
    m = select_mode(api, precision)
    assert m.strongly_typed and m.flags == () and m.graph == "artifact" and not m.speed_only
