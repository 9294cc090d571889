"""Where a backend run happens (`MeasureConfig.launcher`), in the manner of optimum-benchmark's launchers:
`process` runs it in a fresh Python process, so that its memory figures belong to it alone (the default);
`inline` runs it in this process (faster; for tests, debugging and machines where spawning is costly)."""
from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

from . import errors
from .files import write_json_atomic
from .isolated import run_child
from .manifest import LoadedExport
from .results import RunResult
from .runner import RunSpec, run_backend
from .serial import from_dict, to_dict


def launch(spec: RunSpec, subject: LoadedExport | None = None) -> list[RunResult]:
    """Run `spec` where its configuration says; `subject` (already loaded) saves an inline run reading it again."""
    return run_backend(spec, subject) if spec.config.launcher == "inline" else run_isolated(spec)


def run_isolated(spec: RunSpec, timeout_s: float | None = None) -> list[RunResult]:
    with tempfile.TemporaryDirectory(prefix="deployprof-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        write_json_atomic(spec_path, to_dict(spec))
        data = run_child(["deployprof.worker", str(spec_path), str(out_path)], out_path,
                         f"backend {spec.backend}", capture_output=True, text=True, timeout=timeout_s)
    return [from_dict(RunResult, r) for r in data["runs"]]


def main(argv: list[str]) -> int:
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
