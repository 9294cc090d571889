"""GPU harness overhead: deployprof's timed loop against a bare loop around the very same bound call (the same
backend instance, inputs and outputs already on the device), for torch on CUDA and ort-cuda, with and without
CUDA graphs, on each stage of the exports given. Rounds alternate (A B A B ...), the figure is the median of the
per-round ratios of p50s (goal <= 1.03), and every row carries the GPU's clocks, power, temperature and
performance state read through NVML at its start. Without a CUDA device it says so and exits 0.
Usage: python scripts/bench_gpu_overhead.py EXPORT_DIR [EXPORT_DIR ...] [--rounds 5] [--iters 300]"""
import argparse
import time

import numpy as np

from deployprof.backends import BACKENDS
from deployprof.config import BackendOptions, MeasureConfig
from deployprof.devices import cuda_device_count, gpu_state
from deployprof.inputs import make_inputs
from deployprof.manifest import load_subject
from deployprof.measure.harness import time_callable


def bare_p50(fn, sync, iters: int) -> float:
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        fn()
        sync()
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) / 1e6


def ours_p50(fn, sync, iters: int) -> float:
    cfg = MeasureConfig(warmup_iterations=0, warmup_min_s=0, warmup_max_s=0, iterations=iters)
    return float(np.median(time_callable(fn, sync, cfg).samples_ns)) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exports", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=300)
    args = ap.parse_args()
    if cuda_device_count() == 0:
        print("no CUDA device: the GPU overhead benchmark did not run (its figures stay unverified)")
        return
    print("| export / stage | backend | CUDA graph | bare p50 (ms) | deployprof p50 (ms) | median ratio | <= 1.03 | GPU at start |")
    print("|---|---|---|---|---|---|---|---|")
    for export in args.exports:
        subject = load_subject(export)
        manifest, root = subject
        for stage in manifest.stages:
            feeds = make_inputs(stage.inputs, batch=1, seed=0, dims=manifest.default_dims)
            for backend in ("torch", "ort-cuda"):
                cls = BACKENDS.get(backend)
                if not cls.availability().ok:
                    print(f"| {export} / {stage.name} | {backend} | - | unavailable: {cls.availability().reason} | | | | |")
                    continue
                for graph in (False, True):
                    opts = BackendOptions(torch_device="cuda", cuda_graph=graph)
                    state = gpu_state()
                    try:
                        with cls(stage, root, manifest, opts) as b:
                            fn = b.bind(feeds)
                            for _ in range(max(10, args.iters // 10)):
                                fn()
                            b.synchronize()
                            pairs = [(bare_p50(fn, b.synchronize, args.iters), ours_p50(fn, b.synchronize, args.iters))
                                     for _ in range(args.rounds)]
                    except Exception as exc:  # a stage that cannot be captured: say so and go on
                        print(f"| {export} / {stage.name} | {backend} | {graph} | failed: {type(exc).__name__}: {exc} | | | | |")
                        continue
                    bare, ours = (float(np.median(x)) for x in zip(*pairs))
                    ratio = float(np.median([o / b for b, o in pairs]))
                    print(f"| {export} / {stage.name} | {backend} | {graph} | {bare:.4f} | {ours:.4f} | {ratio:.4f} | "
                          f"{'yes' if ratio <= 1.03 else 'NO'} | {state} |")


if __name__ == "__main__":
    main()
