"""A run's output folder: what a command may find there and what it does with it, decided before any work.

Files deployprof did not write (or a link, where it writes a file) are never deleted or written through: the run is
refused. A folder holding another run (another command, or another subject) is refused unless --force; with it,
that run's files go before the new run writes anything, so a folder never mixes two runs. The same command on the
same subject replaces its earlier run (profile, train-bench, compare-precision) or resumes it (precision-debug and
sweep keep their caches). The record `.deployprof-run.json` says which run wrote the folder."""
from __future__ import annotations

import contextlib
import fnmatch
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import ConfigError
from .files import (RUN_MARKER, folder_lock, is_own_export, output_dir, parse_json, read_document,
                    write_json_atomic, write_text_atomic)

RECORD = ".deployprof-run.json"
LOCK = ".deployprof.lock"
# what a run killed outright (SIGKILL, power) leaves: an atomic write's temporary file, a staged or moved-aside folder
LEFTOVERS = (RECORD, LOCK, RUN_MARKER, ".*.tmp", ".*.tmp-*", ".*.old-*", ".deployprof-write-check-*")


@dataclass(frozen=True)
class RunKind:
    """What one command writes into its folder, as name patterns: regular files, export folders (holding only an
    export's files) and folders of another kind (a profile's precision-debug runs, a sweep's runs)."""
    command: str
    files: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    nested: tuple[tuple[str, "RunKind"], ...] = ()
    resumes: bool = False

    def strays(self, entry: Path) -> list[str]:
        """The paths under `entry` (itself included) this command did not write: [] when it owns all of it."""
        name = entry.name
        if entry.is_symlink():
            return [name]
        if any(fnmatch.fnmatchcase(name, p) for p in LEFTOVERS):
            return []
        if entry.is_file():
            return [] if any(fnmatch.fnmatchcase(name, p) for p in self.files) else [name]
        if entry.is_dir() and any(fnmatch.fnmatchcase(name, p) for p in self.exports):
            return [] if not any(entry.iterdir()) or is_own_export(entry) else [name + "/"]
        kind = next((k for p, k in self.nested if fnmatch.fnmatchcase(name, p)), None) if entry.is_dir() else None
        if kind is None:
            return [name + "/" if entry.is_dir() else name]
        return [f"{name}/{s}" for e in sorted(entry.iterdir()) for s in kind.strays(e)]


REPORT = ("report.json", "report.md", "report.html")
PRECISION_DEBUG = RunKind("precision-debug", ("precision-debug.json", "precision-debug.html", "evaluations.json",
                                              "reference.npz", "confirm-reference.npz"), ("export-*-mixed",),
                          resumes=True)
PROFILE = RunKind("profile", REPORT, ("export", "export-*"), (("precision-debug-*", PRECISION_DEBUG),))
TRAIN_BENCH = RunKind("train-bench", REPORT)
COMPARE_PRECISION = RunKind("compare-precision", (), ("export-*",))
SWEEP_EXPORT = RunKind("sweep export", (), ("export",))
SWEEP = RunKind("sweep", ("sweep.json", "sweep.html"), (),
                (("runs", RunKind("runs", nested=(("*", PROFILE),))),
                 ("exports", RunKind("exports", nested=(("*", SWEEP_EXPORT),)))), resumes=True)
KINDS = {k.command: k for k in (PROFILE, PRECISION_DEBUG, TRAIN_BENCH, COMPARE_PRECISION, SWEEP_EXPORT, SWEEP)}


def subject_id(subject: object) -> str:
    """A subject as the record keeps it: a path resolved (two spellings of one folder are one subject), a name as is."""
    text = str(subject)
    try:
        return str(Path(text).resolve()) if Path(text).exists() else text
    except (OSError, ValueError):
        return text


def _record(out: Path) -> Optional[dict]:
    try:
        data = parse_json(read_document(out / RECORD, "run record", max_bytes=1 << 16), "run record")
    except Exception:  # missing, unreadable or not ours: an unknown run, which only --force replaces
        return None
    ok = isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("command", "subject"))
    return data if ok else None


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink(missing_ok=True)


def claim(out: Path, kind: RunKind, subject: str, force: bool) -> tuple[str, list[Path]]:
    """Decide what this run does with `out` (already locked): ("fresh" | "resumed" | "replaced", the earlier run's
    entries to remove). Refuses files deployprof did not write, and another run's folder without `force`."""
    entries = sorted((p for p in out.iterdir() if p.name != LOCK), key=lambda p: p.name)
    if not entries:
        return "fresh", []
    record = _record(out)
    held = KINDS.get(record["command"], kind) if record else kind   # another command's run: judged by its files
    foreign = [s for p in entries for s in held.strays(p)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(f"--out {out} holds files deployprof did not write ({shown}); a run never replaces or "
                          "deletes them: move them, or choose another --out")
    same = record is not None and record["command"] == kind.command and record["subject"] == subject
    if not same and not force:
        what = (f"a {record['command']} run of {record['subject']} (started {record.get('started_utc', '?')})"
                if record else "deployprof output of a run it has no record of")
        raise ConfigError(f"--out {out} holds {what}; pass --force to replace it, or choose another --out")
    if same and kind.resumes and not force:
        return "resumed", []
    return "replaced", [e for e in entries if e.name != RUN_MARKER]


@contextlib.contextmanager
def run_folder(out: Path, kind: RunKind, subject: object, force: bool = False,
               say: Callable[[str], None] = lambda line: None) -> Iterator[Path]:
    """Check, lock and claim `out` before any work, and mark it INCOMPLETE for the length of the run: the mark goes
    only when the run completes, so an interrupted run's folder is never taken for a fresh result."""
    out = output_dir(out)
    subject = subject_id(subject)
    had_lock = (out / LOCK).exists()
    with folder_lock(out):
        try:
            done, old = claim(out, kind, subject, force)
        except ConfigError:  # refused: the folder is left exactly as it was found
            if not had_lock:
                (out / LOCK).unlink(missing_ok=True)
            raise
        if done != "fresh":
            say(f"note: {'resuming' if done == 'resumed' else 'replacing'} the earlier {kind.command} run in {out}")
        marker = out / RUN_MARKER
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_text_atomic(marker, f"deployprof {kind.command} {subject} started {now} and has not completed: the "
                                  "files here may be partial or stale. Run it again.\n")
        for entry in old:   # marked first: a run killed while removing them leaves a folder no reader takes whole
            _remove(entry)
        write_json_atomic(out / RECORD, {"command": kind.command, "subject": subject, "started_utc": now})
        yield out
        marker.unlink(missing_ok=True)

