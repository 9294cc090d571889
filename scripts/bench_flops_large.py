"""Counting a ~1.1B-parameter decoder whose weights sit in a 4.4 GB external-data file: deployprof against
onnx-tool on the same file, in the same run, each in its own process (wall time and peak RSS = VmHWM).

The decoder has TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, MLP 5632, vocab 32000)
at 128 tokens. The data file is written sparse (zeros; nothing reads values to count). onnx-tool is optional:
`pip install onnx-tool` to include it. Usage: python scripts/bench_flops_large.py [--keep DIR]

With --exports DIR [DIR ...] (e.g. the shapes-only `deployprof export openvla-full|pi0-full|groot-full --out DIR`),
it also times `deployprof flops DIR --json` on each: one policy step, every stage and KV length, in its own
process (wall time with interpreter start, and peak RSS)."""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

H, LAYERS, HEADS, KV, MLP, VOCAB, S = 2048, 22, 32, 4, 5632, 32000, 128
D = H // HEADS


def build(folder: Path) -> tuple[Path, int, int]:
    """Returns (model path, parameter count, closed-form MACs)."""
    nodes, inits, offset = [], [], 0
    data_name = "model.onnx.data"

    def weight(name, shape):
        nonlocal offset
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
        t.data_location = TensorProto.EXTERNAL
        n = int(np.prod(shape)) * 4
        for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(n))):
            t.external_data.add(key=k, value=v)
        offset += n
        inits.append(t)
        return name

    def const(name, arr):
        inits.append(onnx.numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, outs=None, **attrs):
        outs = outs or [f"{op.lower()}_{len(nodes)}"]
        nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0]

    def rmsnorm(x, i):
        w = weight(f"norm{i}", [H])
        ms = node("ReduceMean", [node("Mul", [x, x])], keepdims=1, axes=[-1]) if False else \
            node("ReduceMean", [node("Mul", [x, x]), const(f"ax{i}", np.array([-1], np.int64))], keepdims=1)
        return node("Mul", [node("Div", [x, node("Sqrt", [node("Add", [ms, const(f"eps{i}", np.float32(1e-5))])])]), w])

    def heads(x, n, i, tag):
        r = node("Reshape", [x, const(f"shp_{tag}{i}", np.array([1, S, n, D], np.int64))])
        return node("Transpose", [r], perm=[0, 2, 1, 3])

    x = node("Gather", [weight("embed", [VOCAB, H]), "ids"])
    for i in range(LAYERS):
        h = rmsnorm(x, 2 * i)
        q = heads(node("MatMul", [h, weight(f"wq{i}", [H, H])]), HEADS, i, "q")
        k = heads(node("MatMul", [h, weight(f"wk{i}", [H, KV * D])]), KV, i, "k")
        v = heads(node("MatMul", [h, weight(f"wv{i}", [H, KV * D])]), KV, i, "v")
        rep = const(f"rep{i}", np.array([1, KV, HEADS // KV, S, D], np.int64))
        flat = const(f"flat{i}", np.array([1, HEADS, S, D], np.int64))
        k = node("Reshape", [node("Expand", [node("Unsqueeze", [k, const(f"u{i}", np.array([2], np.int64))]), rep]), flat])
        v = node("Reshape", [node("Expand", [node("Unsqueeze", [v, const(f"uv{i}", np.array([2], np.int64))]), rep]), flat])
        scores = node("Mul", [node("MatMul", [q, node("Transpose", [k], perm=[0, 1, 3, 2])]), const(f"sc{i}", np.float32(D ** -0.5))])
        att = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        att = node("Reshape", [node("Transpose", [att], perm=[0, 2, 1, 3]), const(f"m{i}", np.array([1, S, H], np.int64))])
        x = node("Add", [x, node("MatMul", [att, weight(f"wo{i}", [H, H])])])
        h = rmsnorm(x, 2 * i + 1)
        gate = node("MatMul", [h, weight(f"wg{i}", [H, MLP])])
        up = node("MatMul", [h, weight(f"wu{i}", [H, MLP])])
        act = node("Mul", [node("Mul", [gate, node("Sigmoid", [gate])]), up])
        x = node("Add", [x, node("MatMul", [act, weight(f"wd{i}", [MLP, H])])])
    node("MatMul", [rmsnorm(x, 2 * LAYERS), weight("lm_head", [H, VOCAB])], ["logits"])
    graph = helper.make_graph(nodes, "decoder_1b", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, S])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, S, VOCAB])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = folder / "decoder_1b.onnx"
    onnx.save(model, str(path))
    with open(folder / data_name, "wb") as fh:
        fh.truncate(offset)  # sparse: 4.4 GB apparent size, nothing written
    params = sum(int(np.prod(t.dims)) for t in inits if t.data_location == TensorProto.EXTERNAL)
    per_layer = S * (H * H * 2 + H * KV * D * 2 + 3 * H * MLP) + 2 * HEADS * S * S * D
    return path, params, LAYERS * per_layer + S * H * VOCAB


CHILD = """import json, sys, time
t0 = time.perf_counter()
{body}
hwm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))
print(json.dumps({{"seconds": time.perf_counter() - t0, "peak_rss_bytes": hwm, "macs": macs}}))
"""
# Each child times import + load + count (what a user waits for).
OURS = textwrap.dedent("""
    from deployprof.flops import analyze_model
    r = analyze_model(sys.argv[1])
    assert not r.lower_bound, r.unresolved_nodes[:3]
    macs = r.macs
""")
ONNX_TOOL = textwrap.dedent("""
    import contextlib, io, onnx_tool
    with contextlib.redirect_stdout(io.StringIO()):
        m = onnx_tool.Model(sys.argv[1])
        m.graph.shape_infer()
        m.graph.profile()
    macs = m.graph.macs
    macs = int(macs[0] if hasattr(macs, "__len__") else macs)
""")


def run_child(body: str, path: Path) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD.format(body=body), str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:160], "process_seconds": wall}
    return {**json.loads(p.stdout.strip().splitlines()[-1]), "process_seconds": wall}


def time_exports(folders: list[Path], repeats: int = 3) -> None:
    """`deployprof flops DIR --json` as a user runs it, best of `repeats` (the machine is shared and noisy)."""
    print("| export | wall, best of 3 (s) | all runs (s) | peak RSS (MB) | policy-step FLOPs total |")
    print("|---|---|---|---|---|")
    for folder in folders:
        runs, out = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "deployprof", "flops", str(folder),
                                "--json"], capture_output=True, text=True)
            runs.append((time.perf_counter() - t0, int(p.stderr.strip().splitlines()[-1]) * 1024))
            if p.returncode != 0:
                print(f"| {folder.name} | failed: {p.stderr.strip().splitlines()[-2][:120]} | | | |")
                break
            out = json.loads(p.stdout)
        if out is not None:
            best = min(runs)
            print(f"| {folder.name} | {best[0]:.2f} | {', '.join(f'{w:.2f}' for w, _ in runs)} | "
                  f"{max(r for _, r in runs) / 1e6:.0f} | {out['policy_step_flops_total']:,} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, default=None, help="build into this folder and keep it")
    ap.add_argument("--exports", type=Path, nargs="*", default=[], help="export folders to time `deployprof flops` on")
    args = ap.parse_args()
    if args.exports:
        time_exports(args.exports)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dp-1b-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    path, params, closed = build(folder)
    data = folder / "model.onnx.data"
    print(f"built {path.name}: {params / 1e9:.3f} B parameters, data file {data.stat().st_size / 1e9:.2f} GB "
          f"(sparse), graph {path.stat().st_size / 1e6:.2f} MB, in {time.perf_counter() - t0:.1f} s")
    print(f"closed-form MACs: {closed:,}")
    try:
        import onnx_tool  # noqa: F401
        have_tool = True
    except ImportError:
        have_tool = False
    rows = [("deployprof", "present", run_child(OURS, path))]
    if have_tool:
        rows.append(("onnx-tool " + __import__("onnx_tool").VERSION, "present", run_child(ONNX_TOOL, path)))
    data.unlink()
    rows.append(("deployprof", "deleted", run_child(OURS, path)))
    if have_tool:
        rows.append(("onnx-tool", "deleted", run_child(ONNX_TOOL, path)))
    print("| tool | data file | count time (s) | process wall (s) | peak RSS (MB) | MACs | = closed form |")
    print("|---|---|---|---|---|---|---|")
    for tool, state, r in rows:
        if "error" in r:
            print(f"| {tool} | {state} | failed: {r['error']} | {r['process_seconds']:.2f} | | | |")
        else:
            print(f"| {tool} | {state} | {r['seconds']:.2f} | {r['process_seconds']:.2f} | {r['peak_rss_bytes'] / 1e6:.0f} "
                  f"| {r['macs']:,} | {'yes' if r['macs'] == closed else 'no'} |")
    if not have_tool:
        print("(onnx-tool not installed: pip install onnx-tool to compare)")
    print("(onnx-tool's MACs follow its own convention, which adds elementwise work to the matrix MACs)")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
