"""Harness overhead: deployprof's p50 against a bare `session.run` loop timed in the same process.

Rounds alternate between the two (A B A B ...) so that drift hits both alike; the figure is the median of
the per-round ratios of p50s. Usage: python scripts/bench_harness_overhead.py [--rounds 5] [--iters 400]"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import matmul_chain  # noqa: E402

from deployprof.backends import BACKENDS, BackendOptions  # noqa: E402
from deployprof.manifest import load_subject  # noqa: E402
from deployprof.config import MeasureConfig
from deployprof.measure.harness import time_callable  # noqa: E402


def bare_p50(sess, feeds, iters):
    names = [o.name for o in sess.get_outputs()]
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        sess.run(names, feeds)
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) / 1e6


def ours_p50(backend, feeds, iters):
    t = time_callable(backend.bind(feeds), backend.synchronize,
                      MeasureConfig(warmup_iterations=0, warmup_min_s=0, iterations=iters))
    return float(np.median(t.samples_ns)) / 1e6


def measure(path: Path, iters: int, rounds: int):
    manifest, root = load_subject(path)
    stage = manifest.stages[0]
    feeds = {"x": np.random.default_rng(0).standard_normal(stage.inputs[0].shape).astype(np.float32)}
    ratios, bares, ourss = [], [], []
    with BACKENDS.get("ort-cpu")(stage, root, manifest, BackendOptions()) as backend:
        sess = backend.session  # the very same session: only the loop around it differs
        for _ in range(max(10, iters // 10)):
            sess.run(None, feeds)
        for _ in range(rounds):
            b = bare_p50(sess, feeds, iters)
            o = ours_p50(backend, feeds, iters)
            bares.append(b)
            ourss.append(o)
            ratios.append(o / b)
    return float(np.median(bares)), float(np.median(ourss)), float(np.median(ratios))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("small (MatMul chain 16x256, 2 layers)", matmul_chain(Path(tmp) / "small.onnx", 16, 256, 2), args.iters),
                 ("large (MatMul chain 256x2048, 4 layers)", matmul_chain(Path(tmp) / "large.onnx", 256, 2048, 4), max(20, args.iters // 20))]
        print(f"onnxruntime {ort.__version__}, {args.rounds} alternating rounds")
        print("| model | bare session.run p50 (ms) | deployprof p50 (ms) | median ratio | within |")
        print("|---|---|---|---|---|")
        for name, path, iters in cases:
            b, o, r = measure(path, iters, args.rounds)
            limit = 0.03 if b < 20 else 0.01
            print(f"| {name} | {b:.4f} | {o:.4f} | {r:.4f} | {'yes' if abs(r - 1) <= limit else 'NO'} ({limit:.0%}) |")


if __name__ == "__main__":
    main()
