"""What every command pays before it starts: `deployprof --help`, `flops` of a one-node graph (table and --json),
`targets`, a command's own `--help`, `models`, and `import ml_dtypes` alone (onnx imports it), each in its own process,
best and median of N wall seconds. With --against TREE, the same commands under another checkout of deployprof
(PYTHONPATH), alternating with this one round by round: the comparison to trust on a shared machine.
Usage: python scripts/bench_startup.py [--repeats 5] [--against /path/to/other/checkout]. Figures go in
docs/BENCHMARKS.md."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]


def one_node(folder: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    path = folder / "relu.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])), path)
    return path


def wall(cmd: list[str], tree: Path) -> float:
    """One run from a neutral folder, deployprof imported from `tree`."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=tempfile.gettempdir(), env=dict(os.environ, PYTHONPATH=str(tree)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", type=Path, default=None, help="another checkout of deployprof, measured alternately")
    args = ap.parse_args()
    from importlib.metadata import version

    trees = {"this": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    with tempfile.TemporaryDirectory() as tmp:
        graph = str(one_node(Path(tmp)))
        cli = [sys.executable, "-m", "deployprof"]
        cases = {"import ml_dtypes": [sys.executable, "-c", "import ml_dtypes"],
                 "deployprof --help": [*cli, "--help"],
                 "deployprof flops (one-node graph)": [*cli, "flops", graph],
                 "deployprof flops --json": [*cli, "flops", graph, "--json"],
                 "deployprof targets": [*cli, "targets"],
                 "deployprof sweep --help": [*cli, "sweep", "--help"],
                 "deployprof models": [*cli, "models"]}
        print(f"ml_dtypes {version('ml_dtypes')}, onnx {version('onnx')}, python {sys.version.split()[0]}; "
              f"{args.repeats} rounds; best / median wall seconds")
        for name, cmd in cases.items():
            times: dict[str, list[float]] = {t: [] for t in trees}
            for _ in range(args.repeats):
                for label, tree in trees.items():
                    times[label].append(wall(cmd, tree))
            cells = "   ".join(f"{label} {min(ts):6.3f} / {statistics.median(ts):6.3f}" for label, ts in times.items())
            ratio = (f"   this/against median {statistics.median(times['this']) / statistics.median(times['against']):.2f}"
                     if args.against else "")
            print(f"{name:36s} {cells}{ratio}")


if __name__ == "__main__":
    main()
