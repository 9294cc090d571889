"""Memory a large graph's layer-time pass holds per node: ONNX Runtime's trace is streamed, never held whole (50
profiled runs of a 50,000-node graph once held 2.3 GB, about 41 KB per node; parsed whole, this test's 20 runs
would hold about 16 KB per node)."""
import json
import tracemalloc

from deployprof.measure.ort_profile import TraceFile, timed_from_trace

NODES, RUNS = 2000, 20
BUFFERS = 8 << 20    # the reader's chunks, whatever the graph


def _write_trace(path) -> None:
    """The trace ONNX Runtime writes: one event per line, each run's model_run after its node events."""
    with open(path, "w") as fh:
        fh.write("[\n")
        ts = 0
        for run in range(RUNS):
            start = ts
            for n in range(NODES):
                fh.write(json.dumps({"cat": "Node", "pid": 1, "tid": 1, "dur": 3, "ts": ts, "ph": "X",
                                     "name": f"/blocks.{n // 40}/mlp/fc{n}/MatMul_kernel_time",
                                     "args": {"op_name": "MatMul", "thread_scheduling_stats": {"main": n}}}) + ",\n")
                ts += 5
            fh.write(json.dumps({"cat": "Session", "dur": ts - start, "ts": start, "name": "model_run"}) + ",\n")
            ts += 10
        fh.write('{"cat": "Session", "dur": 1, "ts": 0, "name": "session_initialization"}\n]\n')


def test_the_layer_pass_holds_kilobytes_per_node_not_the_trace(tmp_path):
    path = tmp_path / "trace.json"
    _write_trace(path)
    tracemalloc.start()
    timed = timed_from_trace(TraceFile(path), [1.0] * RUNS, skip=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert timed.runs == RUNS - 2 and len([u for u in timed.units if u.op_type == "MatMul"]) == NODES
    assert all(abs(u.mean_ms - 0.003) < 1e-12 for u in timed.units if u.op_type == "MatMul")
    assert peak < BUFFERS + 2048 * NODES, f"{(peak - BUFFERS) / NODES:.0f} bytes per node beyond the read buffers"
