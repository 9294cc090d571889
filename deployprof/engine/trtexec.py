"""trtexec as a witness: NVIDIA's own benchmark tool run on the very engine file deployprof built and timed, its
GPU compute time set beside ours. Its output is read from the performance summary trtexec prints (TensorRT 8.6,
10.x and 11.x use the same lines; tests/data/trtexec/ holds samples typed from NVIDIA's documented format)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

JETSON_PATH = Path("/usr/src/tensorrt/bin/trtexec")
AGREE = (0.98, 1.02)   # our device p50 / trtexec's GPU compute median within this band: the witness agrees
_STAT = re.compile(r"(GPU Compute Time|Latency|Enqueue Time|H2D Latency|D2H Latency):\s*(.*)$")
_FIELD = re.compile(r"(min|max|mean|median|percentile\(\s*(\d+(?:\.\d+)?)\s*%\))\s*=\s*([-+\d.eE]+)\s*ms")


def find_trtexec() -> Optional[str]:
    return shutil.which("trtexec") or (str(JETSON_PATH) if JETSON_PATH.exists() else None)


def parse(text: str) -> dict[str, dict[str, float]]:
    """{'GPU Compute Time': {'median': ms, 'p99': ms, ...}, 'Throughput': {'qps': x}, ...} from trtexec's summary;
    lines may carry a `[date-time] [I]` prefix. An output without GPU compute time is an error that says so."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if m := re.search(r"Throughput:\s*([-+\d.eE]+)\s*qps", line):
            out["Throughput"] = {"qps": float(m.group(1))}
        elif m := _STAT.search(line):
            fields = {}
            for f in _FIELD.finditer(m.group(2)):
                key = f"p{float(f.group(2)):g}" if f.group(2) else f.group(1)
                fields[key] = float(f.group(3))
            if fields:
                out[m.group(1)] = fields
    if "median" not in out.get("GPU Compute Time", {}):
        tail = " | ".join(text.strip().splitlines()[-3:])[:300]
        raise ConfigError(f"trtexec printed no GPU compute time (its last lines: {tail or 'nothing'})")
    return out


def command(trtexec: str, engine: str, shapes: dict[str, tuple[int, ...]], cuda_graph: bool,
            duration_s: float = 3.0) -> list[str]:
    """The same engine, shapes and stream settings as our run; trtexec's own warm-up and timing otherwise."""
    cmd = [trtexec, f"--loadEngine={engine}", f"--duration={duration_s:g}", "--useSpinWait"]
    if shapes:
        cmd.append("--shapes=" + ",".join(f"{k}:{'x'.join(map(str, v))}" for k, v in shapes.items()))
    if cuda_graph:
        cmd.append("--useCudaGraph")
    return cmd


def witness(trtexec: str, engine: str, shapes: dict[str, tuple[int, ...]], cuda_graph: bool,
            timeout_s: float = 300.0) -> tuple[list[str], dict[str, dict[str, float]]]:
    cmd = command(trtexec, engine, shapes, cuda_graph)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"trtexec could not run ({type(exc).__name__}: {exc})") from None
    if proc.returncode != 0:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"trtexec exited {proc.returncode} on {engine}: {last[0][:300]}")
    return cmd, parse(proc.stdout)
