"""One line per run of the `bench --json` files gpu_check.sh wrote: host and (where measured) CUDA-event latency.
Usage: python scripts/gpu_summary.py OUTDIR"""
import json
import pathlib
import sys


def line(name: str, r: dict) -> str:
    """r: one RunResult of a `bench --json` document (docs/schema.json)."""
    dev, lat = r["device_latency"], r["latency"]
    device = f" | CUDA-event p50 {dev['p50_ms']:.3f} ms" if dev else " | no device time"
    return (f"{name:26s} {r['stage']:12s} b{r['batch']} host p50 {lat['p50_ms']:.3f} ms "
            f"p99 {lat['p99_ms']:.3f}{device} | n {lat['count']} | dev mem {r['memory']['device_peak_bytes']}")


def main(out: pathlib.Path) -> None:
    for f in sorted(out.glob("bench_*.json")):
        if not f.stat().st_size:
            print(f"{f.name}: no result")
            continue
        for r in json.loads(f.read_text())["runs"]:
            print(line(f.name, r))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
