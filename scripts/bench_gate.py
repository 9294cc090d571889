"""The regression gate's two numbers on this machine (docs/BENCHMARKS.md, "The regression gate under noise"): its
false-call rate on identical work and its detection rate for 10% and 25% slowdowns, with a neighbour process
switching on and off. The work is a chain of MatMul+Relu layers; the slower models have 10% and 25% more layers
(their true ratios are measured and printed too, best of several interleaved windows).
Each trial is what a user runs, in its own process:
  interleave: deployprof compare --interleave A.onnx B.onnx --fail-on-regression PCT --json
  repeats:    deployprof profile A.onnx --repeats R --out a (and B), then deployprof compare a b --fail-on-regression PCT
Trials of the three kinds are interleaved (identical, +10%, +25%, identical, ...) so the neighbour hits each alike.
Usage: python scripts/bench_gate.py [--gate interleave|repeats] [--trials 20] [--threshold 5] [--no-neighbour]"""
import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def chain(path: Path, layers: int, width: int = 384, rows: int = 64) -> Path:
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = numpy_helper.from_array((rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32), f"w{i}")
        inits.append(w)
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
        prev = f"r{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width])
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, [rows, width])
    model = helper.make_model(helper.make_graph(nodes, "chain", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def _burn(stop_at: float, seed: int) -> None:
    """A neighbour: busy for 0.5-3 s, idle for 0.5-3 s, until stop_at."""
    rng = random.Random(seed)
    while time.time() < stop_at:
        end = time.time() + rng.uniform(0.5, 3.0)
        while time.time() < end:
            pass
        time.sleep(rng.uniform(0.5, 3.0))


def deployprof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployprof", *args], capture_output=True, text=True)


def trial_interleave(a: Path, b: Path, pct: float, max_s: float) -> dict:
    t0 = time.time()
    p = deployprof("compare", "--interleave", str(a), str(b), "--fail-on-regression", str(pct), "--json",
                   "--max-duration", str(max_s))
    if p.returncode not in (0, 3):
        raise SystemExit(f"compare failed ({p.returncode}): {p.stderr[-2000:]}")
    doc = json.loads(p.stdout)
    m = doc["runs"][0]["metrics"][0]
    return dict(exit=p.returncode, verdict=m["verdict"], delta_pct=m["delta_pct"], ci=m["delta_ci_pct"],
                blocks=m["runs_a"], stop=doc["interleaved"]["stop"], wall_s=time.time() - t0)


def trial_repeats(a: Path, b: Path, pct: float, repeats: int, tmp: Path) -> dict:
    t0 = time.time()
    outs = []
    for i, model in enumerate((a, b)):
        outs.append(tmp / f"run{i}")
        shutil.rmtree(outs[-1], ignore_errors=True)
        p = deployprof("-q", "profile", str(model), "--out", str(outs[-1]), "--backends", "ort-cpu", "--repeats",
                       str(repeats), "--no-layer-profile", "--accuracy-samples", "0", "--no-store", "--max-duration", "5")
        if p.returncode != 0:
            raise SystemExit(f"profile failed ({p.returncode}): {p.stderr[-2000:]}")
    p = deployprof("compare", str(outs[0]), str(outs[1]), "--fail-on-regression", str(pct), "--json", "--metric", "p50")
    if p.returncode not in (0, 3):
        raise SystemExit(f"compare failed ({p.returncode}): {p.stderr[-2000:]}")
    m = json.loads(p.stdout)["runs"][0]["metrics"][0]
    return dict(exit=p.returncode, verdict=m["verdict"], delta_pct=m["delta_pct"], ci=m["delta_ci_pct"],
                blocks=m["runs_a"], stop="-", wall_s=time.time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gate", choices=("interleave", "repeats"), default="interleave")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--threshold", type=float, default=5.0)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-duration", type=float, default=60.0)
    ap.add_argument("--no-neighbour", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write every trial as JSON here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    base = chain(tmp / "a.onnx", args.layers)
    same = tmp / "a_copy.onnx"
    shutil.copy(base, same)
    kinds = {"identical": same, "+10%": chain(tmp / "b10.onnx", round(args.layers * 1.10)),
             "+25%": chain(tmp / "b25.onnx", round(args.layers * 1.25))}
    neighbours = []
    if not args.no_neighbour:
        stop_at = time.time() + 6 * 3600
        neighbours = [mp.Process(target=_burn, args=(stop_at, i), daemon=True) for i in range(os.cpu_count() or 2)]
        for n in neighbours:
            n.start()
    results = {k: [] for k in kinds}
    try:
        for t in range(args.trials):
            for kind, b in kinds.items():
                r = trial_interleave(base, b, args.threshold, args.max_duration) if args.gate == "interleave" \
                    else trial_repeats(base, b, args.threshold, args.repeats, tmp)
                results[kind].append(r)
                print(f"trial {t + 1:2d} {kind:9s} exit {r['exit']} {r['verdict']:13s} {r['delta_pct']:+6.1f}% "
                      f"[{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}] blocks {r['blocks']:3d} {r['stop']:10s} {r['wall_s']:.1f} s",
                      flush=True)
    finally:
        for n in neighbours:
            n.terminate()
    print(f"\ngate: {args.gate}, --fail-on-regression {args.threshold:g}, {args.trials} trials each, neighbour "
          f"{'off' if args.no_neighbour else f'on/off x{len(neighbours)}'}, {os.cpu_count()} cores")
    for kind, rs in results.items():
        calls = sum(r["exit"] == 3 for r in rs)
        deltas = sorted(r["delta_pct"] for r in rs)
        print(f"{kind:9s}: regression called {calls}/{len(rs)}; median change {deltas[len(deltas) // 2]:+.1f}% "
              f"(range {deltas[0]:+.1f} to {deltas[-1]:+.1f}); mean wall {sum(r['wall_s'] for r in rs) / len(rs):.1f} s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
