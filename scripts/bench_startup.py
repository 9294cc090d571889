"""What every command pays before it starts: `deployprof --help`, `flops` of a one-node graph, `models`, and
`import ml_dtypes` alone (onnx imports it), each in its own process, best of N wall and CPU (user+sys) seconds.
Usage: python scripts/bench_startup.py [--repeats 5]. Figures go in docs/BENCHMARKS.md."""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper


def one_node(folder: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    path = folder / "relu.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])), path)
    return path


def timed(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of `repeats` runs (a shared machine: the best is the least disturbed)."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = os.times()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = os.times()
        cpus.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return min(walls), min(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as tmp:
        graph = one_node(Path(tmp))
        cli = [sys.executable, "-m", "deployprof"]
        cases = {"import ml_dtypes": [sys.executable, "-c", "import ml_dtypes"],
                 "deployprof --help": [*cli, "--help"],
                 "deployprof flops (one-node graph)": [*cli, "flops", str(graph)],
                 "deployprof models": [*cli, "models"]}
        print(f"ml_dtypes {version('ml_dtypes')}, onnx {version('onnx')}, python {sys.version.split()[0]}; "
              f"best of {args.repeats}")
        for name, cmd in cases.items():
            wall, cpu = timed(cmd, args.repeats)
            print(f"{name:36s} wall {wall:6.2f} s   cpu {cpu:6.2f} s")


if __name__ == "__main__":
    main()
