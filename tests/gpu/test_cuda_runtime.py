"""The engine runner's CUDA layer (engine/cuda.py) on a real GPU: needs cuda-bindings, not TensorRT."""
import numpy as np
import pytest


@pytest.mark.gpu
def test_copies_events_and_graph_capture_round_trip():
    pytest.importorskip("cuda.bindings")
    from deployprof.engine.cuda import CudaBindings

    cuda = CudaBindings(0)
    name, cc = cuda.device(0)
    runtime, driver = cuda.versions()
    assert name and cc.count(".") == 1 and runtime and driver
    stream = cuda.stream()
    src = np.arange(1 << 20, dtype=np.float32)
    pinned = cuda.host_buffer(src.shape, src.dtype)
    pinned[...] = src
    ptr = cuda.malloc(src.nbytes)
    e0, e1 = cuda.event(), cuda.event()
    cuda.record(e0, stream)
    cuda.htod(ptr, pinned, stream)
    cuda.record(e1, stream)
    back = np.zeros_like(src)
    cuda.dtoh(back, ptr, stream)
    cuda.sync(stream)
    assert np.array_equal(back, src) and cuda.elapsed_ms(e0, e1) > 0
    out = cuda.host_buffer(src.shape, src.dtype)
    graph = cuda.capture(stream, lambda: cuda.dtoh(out, ptr, stream))  # a memcpy node is capturable
    out[...] = 0
    cuda.launch(graph, stream)
    cuda.sync(stream)
    assert np.array_equal(out, src)
    cuda.free(ptr)
    cuda.close()
