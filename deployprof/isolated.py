"""Calls in a fresh Python process, for work that runs someone else's code (a --module factory) or must own its
memory figures: the result comes back through a JSON file, a DeployprofError as the same type, and a process that
ended without either (os._exit, a crash, a signal) as one error naming what was running."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import errors
from .files import write_json_atomic
from .serial import to_dict


def raise_error(data: dict) -> None:
    """Re-raise an error a child process reported ({"error", "error_type"}) as its own DeployprofError type."""
    if "error" in data:
        cls = getattr(errors, data["error_type"], errors.DeployprofError)
        if not (isinstance(cls, type) and issubclass(cls, errors.DeployprofError)):
            cls = errors.DeployprofError
        raise cls(data["error"])


def run_child(argv: list[str], out_path: Path, what: str, **kw) -> dict:
    """`python -m ARGV...`, which writes its JSON answer to out_path; the answer, its error raised here."""
    proc = subprocess.run([sys.executable, "-m", *argv], env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)
    if not out_path.exists():
        tail = ((getattr(proc, "stderr", None) or "").strip().splitlines()[-1:] or [""])[0]
        raise errors.DeployprofError(f"{what}: its process ended (exit {proc.returncode}) before it finished"
                                     + (f": {tail}" if tail else "; did the code it runs call os._exit() or crash?"))
    data = json.loads(out_path.read_text())
    if data.get("in_context"):
        data["error"] = f"{what}: {data['error']}"
    raise_error(data)
    return data


def call_isolated(target: str, kwargs: dict, what: str):
    """`target` ('package.module:function') called with `kwargs` in a fresh process; returns to_dict of its result."""
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        args_path, out_path = Path(tmp) / "args.json", Path(tmp) / "out.json"
        write_json_atomic(args_path, {"target": target, "kwargs": kwargs})
        return run_child(["deployprof.isolated", str(args_path), str(out_path)], out_path, what,
                         stdout=subprocess.DEVNULL)["result"]


def main(argv: list[str]) -> int:
    import importlib

    args = json.loads(Path(argv[0]).read_text())
    module, _, name = args["target"].partition(":")
    try:
        payload = {"result": to_dict(getattr(importlib.import_module(module), name)(**args["kwargs"]))}
    except errors.DeployprofError as exc:
        payload = {"error": str(exc), "error_type": type(exc).__name__}
    except (KeyboardInterrupt, SystemExit) as exc:  # raised by the code it runs (a real Ctrl-C stops the parent too)
        code = f"exit({exc.code})" if isinstance(exc, SystemExit) else type(exc).__name__
        payload = {"error": f"the code it runs raised {code}", "error_type": "ConfigError", "in_context": True}
    write_json_atomic(Path(argv[1]), payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
