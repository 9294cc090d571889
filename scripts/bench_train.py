"""train-bench figures for the small presets on this machine (docs/BENCHMARKS.md). Each preset in its own
process, so that peak RSS belongs to that preset alone.

    python scripts/bench_train.py [--steps 20] [--batch 8] [--size small|tiny]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FAMILIES = ["act", "octo", "smolvla", "groot", "pi0", "openvla-oft", "openvla"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", choices=["small", "tiny"], default="small")
    args = ap.parse_args()
    print("| preset | loss | params | step p50 ms [95% CI] | samples/s | epoch (256) s | host peak | train GFLOPs/step | cpu ceiling GFLOP/s (measured) | MFU (cpu) | loss first -> last | converged (50%) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for preset in (f"{f}-{args.size}" for f in FAMILIES):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "deployprof", "train-bench", preset, "--out", tmp, "--steps", str(args.steps),
                   "--batch", str(args.batch), "--warmup-steps", "3", "--target", "cpu"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(f"| {preset} | failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]} |")
                continue
            t = json.loads((Path(tmp) / "report.json").read_text())["training"][0]
        st = t["step_time"]
        conv = f"step {t['converged_step']} ({t['converged_s']:.1f} s)" if t["converged_step"] else f"not in {t['steps']}"
        print(f"| {preset} | {t['loss']} | {t['params'] / 1e6:.1f} M | {st['p50_ms']:.0f} [{st['ci_ms']['p50'][0]:.0f}, "
              f"{st['ci_ms']['p50'][1]:.0f}] | {t['samples_per_s']:.1f} | {t['epoch_s']:.0f} | "
              f"{t['host_peak_rss_bytes'] / 2**20:.0f} MiB | {t['train_flops_per_step'] / 1e9:.1f} | "
              f"{t['achieved_tflops'] / t['mfu'] * 1e3:.0f} | {t['mfu']:.1%}{' (flagged: over 90%)' if t['mfu'] > 0.9 else ''} | "
              f"{t['loss_curve'][0]:.3g} -> {t['loss_curve'][-1]:.3g} | {conv} |", flush=True)


if __name__ == "__main__":
    main()
