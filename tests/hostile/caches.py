"""Caches are data from disk: an evaluation cache (the run folder's or the user's) is validated like a report and
what fails is dropped and measured again; a folder, FIFO or deeply nested file in its place is skipped unread."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .sandbox import Case, Sandbox

DEBUG = ["--precision", "fp16", "--samples", "1", "--confirm-samples", "2"]


def _debug_run(sb: Sandbox) -> tuple[Path, Path]:
    """The tiny export and a precision-debug run folder of it whose subject matches (resumable)."""
    exp = sb.export()
    return exp, sb.recorded(sb.out / "d", "precision-debug", f"{exp.resolve()} at fp16")


def _garbage_cache(sb: Sandbox) -> list[str]:
    exp, run = _debug_run(sb)
    (run / "evaluations.json").write_text('{"x": [1, 2')
    return ["precision-debug", str(exp), *DEBUG, "--out", str(run)]


def _user_cache(sb: Sandbox, exp: Path) -> Path:
    from deployprof.manifest import load_subject
    from deployprof.precision.debug import _digest

    folder = sb.home / "cache" / "precision-debug"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_digest(load_subject(exp))}.json"


def _in_place_of_the_user_cache(kind: str):
    def make(sb: Sandbox) -> list[str]:
        exp, run = _debug_run(sb)
        path = _user_cache(sb, exp)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        else:
            path.write_text("[" * 200_000 + "]" * 200_000)
        return ["precision-debug", str(exp), *DEBUG, "--out", str(run)]
    return make


def _tampered(edit):
    """A real run's caches (the run folder's and the user's), every entry then edited, and the run made again."""
    def make(sb: Sandbox) -> list[str]:
        exp, run = _debug_run(sb)
        sb.deployprof("precision-debug", str(exp), *DEBUG, "--out", str(run))
        for path in (run / "evaluations.json", _user_cache(sb, exp)):
            cache = json.loads(path.read_text())
            path.write_text(json.dumps({k: edit(dict(v)) for k, v in cache.items()}))
        return ["precision-debug", str(exp), *DEBUG, "--out", str(run), "--json"]
    return make


def _nan_pass(e: dict) -> dict:
    return {**e, "verdict": "PASS", "cosine_min": float("nan")}


def _negative_times(e: dict) -> dict:
    return {**e, **{k: -5.0 for k in ("seconds", "fp32_window_ms", "vs_fp32") if k in e}}


def _measured_again(sb: Sandbox, stdout: str) -> None:
    """What the report holds is measured: finite cosines in range, no negative time."""
    doc = json.loads(stdout)
    evaluations = [doc["low"], *doc["search"]]
    assert all(math.isfinite(e["cosine_min"]) and -1 <= e["cosine_min"] <= 1 for e in evaluations), evaluations
    assert all(e["seconds"] >= 0 and e["vs_fp32"] > 0 and e["fp32_window_ms"] > 0 for e in evaluations), evaluations
    assert doc["confirmation"] is None or math.isfinite(doc["confirmation"]["cosine_min"])


CASES: list[Case] = [
    Case("precision-debug-corrupt-cache", "a garbage evaluation cache in the run folder is measured again, not trusted",
         _garbage_cache, code=0, message="already passes|PASS keeping"),
    Case("precision-debug-cache-nan-pass", "cached evaluations saying PASS with a NaN cosine are dropped and measured "
         "again (once: \"already passes\" and a plain export that failed the bound)", _tampered(_nan_pass), code=0,
         check=_measured_again),
    Case("precision-debug-cache-negative-times", "cached evaluations with negative times are dropped, never reach the "
         "JSON", _tampered(_negative_times), code=0, check=_measured_again),
    Case("precision-debug-user-cache-fifo", "a FIFO in place of the user's evaluation cache is skipped unread (once a "
         "hang)", _in_place_of_the_user_cache("fifo"), code=0, message="already passes|PASS keeping"),
    Case("precision-debug-user-cache-folder", "a folder in place of the user's evaluation cache is skipped",
         _in_place_of_the_user_cache("folder"), code=0, message="already passes|PASS keeping"),
    Case("precision-debug-user-cache-deep", "a user's evaluation cache nested 200,000 deep is skipped (once an internal "
         "error)", _in_place_of_the_user_cache("deep"), code=0, message="already passes|PASS keeping"),
]
