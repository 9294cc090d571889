"""Where a backend run happens (`MeasureConfig.launcher`), in the manner of optimum-benchmark's launchers:
`process` runs it in a fresh Python process, so that its memory figures belong to it alone (the default);
`inline` runs it in this process (faster; for tests, debugging and machines where spawning is costly)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from . import errors
from .files import write_json_atomic
from .manifest import Subject
from .results import RunResult
from .runner import RunSpec, run_backend
from .serial import from_dict, to_dict


def launch(spec: RunSpec, subject: Subject | None = None) -> list[RunResult]:
    """Run `spec` where its configuration says; `subject` (already loaded) saves an inline run reading it again."""
    return run_backend(spec, subject) if spec.config.launcher == "inline" else run_isolated(spec)


def run_isolated(spec: RunSpec, timeout_s: float | None = None) -> list[RunResult]:
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        write_json_atomic(spec_path, to_dict(spec))
        proc = subprocess.run([sys.executable, "-m", "deployprof.worker", str(spec_path), str(out_path)],
                              capture_output=True, text=True, timeout=timeout_s, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if not out_path.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise errors.DeployprofError(f"backend {spec.backend}: measuring process died (exit {proc.returncode}): {tail[0]}")
        data = json.loads(out_path.read_text())
    _raise_error(data)
    return [from_dict(RunResult, r) for r in data["runs"]]


def call_isolated(target: str, kwargs: dict, what: str):
    """`target` ('package.module:function') called with `kwargs` in a fresh Python process, for work that runs
    someone else's code (a --module factory): whatever that code does to its process (os._exit, a crash, a signal)
    comes back as one error naming `what`, never as this process ending silently. Returns to_dict of the result;
    a DeployprofError in the child is raised here as the same type."""
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        args_path, out_path = Path(tmp) / "args.json", Path(tmp) / "out.json"
        write_json_atomic(args_path, {"target": target, "kwargs": kwargs})
        proc = subprocess.run([sys.executable, "-m", "deployprof.worker", "--call", str(args_path), str(out_path)],
                              stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if not out_path.exists():
            raise errors.DeployprofError(f"{what}: its process ended (exit {proc.returncode}) before it finished; "
                                         "did the code it runs call os._exit() or crash?")
        data = json.loads(out_path.read_text())
    _raise_error(data)
    return data["result"]


def _raise_error(data: dict) -> None:
    if "error" in data:
        cls = getattr(errors, data["error_type"], errors.DeployprofError)
        if not (isinstance(cls, type) and issubclass(cls, errors.DeployprofError)):
            cls = errors.DeployprofError
        raise cls(data["error"])


def _call(args_path: Path):
    import importlib

    args = json.loads(args_path.read_text())
    module, _, name = args["target"].partition(":")
    return to_dict(getattr(importlib.import_module(module), name)(**args["kwargs"]))


def main(argv: list[str]) -> int:
    if argv[0] == "--call":
        out_path = Path(argv[2])
        try:
            payload = {"result": _call(Path(argv[1]))}
        except errors.DeployprofError as exc:
            payload = {"error": str(exc), "error_type": type(exc).__name__}
        write_json_atomic(out_path, payload)
        return 0
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    try:
        spec = from_dict(RunSpec, json.loads(spec_path.read_text()))
        payload = {"runs": [to_dict(r) for r in run_backend(spec)]}
    except errors.DeployprofError as exc:
        payload = {"error": str(exc), "error_type": type(exc).__name__}
    except Exception as exc:
        payload = {"error": f"internal error in backend {type(exc).__name__}: {exc}\n{traceback.format_exc()}",
                   "error_type": "DeployprofError"}
    write_json_atomic(out_path, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
