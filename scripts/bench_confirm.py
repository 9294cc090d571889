"""Does precision-debug's confirmed PASS hold on inputs it never saw, at the rate it states? For each preset: export,
`deployprof precision-debug --precision int8`, then the mixed export judged on N more fresh policy steps from a seed
neither the search nor its confirmation used; prints the share outside the PASS rule beside the 95% upper bound the
confirmation stated. Figures go in docs/BENCHMARKS.md ("precision-debug on fresh samples").
Usage: python scripts/bench_confirm.py [--presets pi0-tiny,act-small] [--fresh 256]"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deployprof.accuracy import compare
from deployprof.precision.debug import CONFIRM_SEED

CHECK_SEED = CONFIRM_SEED + 8_000_000   # apart from the search's and every confirmation round's seeds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="pi0-tiny,act-small")
    ap.add_argument("--fresh", type=int, default=256)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-confirm-"))
    for preset in args.presets.split(","):
        ex, dbg = tmp / f"{preset}-export", tmp / f"{preset}-debug"
        subprocess.run([sys.executable, "-m", "deployprof", "-q", "export", preset, "--out", str(ex)], check=True)
        t0 = time.time()
        p = subprocess.run([sys.executable, "-m", "deployprof", "precision-debug", str(ex), "--precision", "int8",
                            "--out", str(dbg), "--json"], capture_output=True, text=True)
        if p.returncode not in (0, 3):
            raise SystemExit(p.stderr[-2000:])
        r = json.loads(p.stdout)
        c = r["confirmation"]
        line = (f"{preset}: search {r['evaluations']} evaluations, {time.time() - t0:.0f} s; kept {len(r['kept'])} "
                f"({', '.join(r['kept']) or 'none'}); ")
        if c is not None:
            line += (f"confirmation on {c['samples']} fresh (seed {c['seed']}): {c['verdict']}, {c['outside']} outside, "
                     f"stated bound {c['outside_bound']:.1%}; ")
        if not r["passed"]:
            print(line + f"not passed: {r['note']}", flush=True)
            continue
        check = compare(ex, r["mixed_export"], samples=args.fresh, seed=CHECK_SEED)
        print(line + f"{args.fresh} more fresh samples (seed {CHECK_SEED}): {check.outside} outside "
              f"({check.outside / args.fresh:.1%}), worst cosine {check.action.cosine_min:.5f}: "
              f"{'holds' if check.outside / args.fresh <= c['outside_bound'] else 'DOES NOT HOLD'}", flush=True)


if __name__ == "__main__":
    main()
