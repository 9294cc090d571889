"""Results-store cost: the time to append one real profile result (goal: under 5 ms on SQLite), on an open store
and as a command pays it (open + schema check + write), and how long resuming a finished
sweep takes. Prints numbers; asserts nothing (timings belong to benchmarks, not tests).

    .venv/bin/python scripts/bench_store.py [--report REPORT.json] [--n 200] [--url URL]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _report(tmp: Path) -> Path:
    out = tmp / "p"
    subprocess.run([sys.executable, "-m", "deployprof", "profile", "tiny-vla", "--out", str(out), "--duration", "0.3",
                    "--no-store"], check=True, capture_output=True)
    return out / "report.json"


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs):.2f} ms, p90 {xs[int(0.9 * (len(xs) - 1))]:.2f} ms, max {xs[-1]:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, default=None, help="a report.json to store (default: profile tiny-vla)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--url", default=None, help="store URL (default: a fresh SQLite file)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the sweep resume timing")
    args = ap.parse_args()
    import json

    from deployprof.store import Store, StoreOptions, record, to_url

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = args.report or _report(tmp)
        doc = json.loads(path.read_text())
        url = args.url or to_url(str(tmp / "bench.sqlite"))
        print(f"document: {path} ({len(json.dumps(doc)) / 1024:.0f} KiB, {len(doc.get('runs', []))} runs); store {url}")
        with Store(url) as s:
            s.add(doc)  # first write creates the file's pages
            times = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                s.add(doc)
                times.append((time.perf_counter() - t0) * 1e3)
        print(f"append to an open store ({args.n}x): {_ms(times)}")
        times = []
        for _ in range(max(args.n // 10, 5)):
            t0 = time.perf_counter()
            record(doc, StoreOptions(where=url), print)
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"record() as a command pays it (open, schema check, append, close): {_ms(times)}")
        if args.no_sweep:
            return
        sweep = tmp / "s.yaml"
        sweep.write_text("subjects: [tiny-vla]\nprecisions: [fp32, fp16]\nbatches: [1, 2]\n"
                         "measure: {duration: 0.3, accuracy_samples: 2, launcher: inline}\n")
        cmd = [sys.executable, "-m", "deployprof", "sweep", str(sweep), "--out", str(tmp / "o"), "--store", url]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        print(f"sweep of 4 configurations: first run {first:.1f} s; rerun with all 4 stored (resume, nothing to do): "
              f"{time.perf_counter() - t0:.2f} s (whole command, interpreter start included)")


if __name__ == "__main__":
    main()
