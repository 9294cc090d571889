"""Each precision per backend for exported presets: policy-step p50, speed-up over FP32 on the same backend, and
each configuration's own action error against the reference (ort-cpu FP32), its worst action dimension, and what
the runtime ran (an emulated precision's latency is not that precision's), as a Markdown table. Usage:
    python scripts/bench_precisions.py EXPORT_DIR [EXPORT_DIR ...] [--duration 2] [--precisions fp32,fp16,int8]
        [--backends ort-cpu,torch]
(export first: deployprof export pi0-small --out out/pi0-small)."""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from deployprof.results import ProfileReport, main_runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exports", nargs="+", type=Path)
    ap.add_argument("--duration", default="2")
    ap.add_argument("--precisions", default="fp32,fp16,int8")
    ap.add_argument("--backends", default="ort-cpu,torch")
    args = ap.parse_args()
    print("| export | backend | precision | ran as | policy-step p50 (ms) [95% CI] | speed-up vs FP32 | action max abs err | "
          "worst dimension (max abs err) | mean abs err | p99 abs err | cosine min | token agreement | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for export in args.exports:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "deployprof", "profile", str(export), "--out", tmp, "--backends",
                            args.backends, "--precisions", args.precisions, "--duration", args.duration], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rep = ProfileReport.read(Path(tmp) / "report.json")
        for r in main_runs(rep.runs):
            a, (lo, hi) = r.accuracy, r.latency.ci_ms["p50"]
            dims = a.per_action_dim_max_abs if a else ()
            worst = max(range(len(dims)), key=dims.__getitem__) if dims else None
            joint = f"{worst} ({dims[worst]:.3g})" if worst is not None else "-"
            err = (f"{a.action.max_abs:.3g} | {joint} | {a.action.mean_abs:.3g} | {a.action.p99_abs:.3g} | "
                   f"{a.action.cosine_min:.5f} | {'-' if a.token_agreement is None else f'{a.token_agreement:.0%}'} | "
                   f"{a.verdict}") if a else "| | | | | |"
            speed = f"{r.speedup_vs_fp32:.2f}x" if r.speedup_vs_fp32 else "1.00x"
            ran = r.build.precision_effective
            print(f"| {export.name} | {r.backend} | {r.precision} | {ran} | {r.latency.p50_ms:.3f} [{lo:.3f}, {hi:.3f}] | "
                  f"{speed} | {err} |")


if __name__ == "__main__":
    main()
