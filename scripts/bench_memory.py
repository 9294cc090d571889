"""Peak host memory against weight size: models whose weights are N MiB, each measured by `deployprof bench`
in its own process. Prints the RSS before the session was created (Python + runtime baseline), the peak,
and their difference next to N. Usage: python scripts/bench_memory.py [--sizes 64,256]"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import matmul_chain  # noqa: E402

WIDTH = 2048  # one weight = 16 MiB
MIB = 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,256", help="weight sizes in MiB (multiples of 16)")
    args = ap.parse_args()
    print("| weights (MiB) | RSS before load (MiB) | peak RSS (MiB) | peak - before (MiB) | (peak - before) / weights "
          "| RSS while timing (MiB) | (timing - before) / weights |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mib in (int(s) for s in args.sizes.split(",")):
            path = matmul_chain(Path(tmp) / f"w{mib}.onnx", 8, WIDTH, mib // 16)
            out = subprocess.run([sys.executable, "-m", "deployprof", "bench", str(path), "--iterations", "50", "--json"],
                                 check=True, capture_output=True, text=True).stdout
            mem = json.loads(out)["memory"]
            base, peak = mem["host_rss_before_load_bytes"] / MIB, mem["host_peak_rss_bytes"] / MIB
            run = mem["host_rss_sampled_peak_bytes"] / MIB
            print(f"| {mib} | {base:.1f} | {peak:.1f} | {peak - base:.1f} | {(peak - base) / mib:.2f} "
                  f"| {run:.1f} | {(run - base) / mib:.2f} |")


if __name__ == "__main__":
    main()
