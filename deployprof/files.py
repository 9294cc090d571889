"""Every path deployprof reads on a file's say-so, and every file it writes, goes through here: read paths are
confined to the folder of the file that named them; writes are atomic, uniquely named and all-or-nothing; a run's
folder is marked until the run completes. Inputs from other people and other machines are normal input."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError, ModelError

RUN_MARKER = "INCOMPLETE"   # present while a run writes its folder; a folder that still has it was interrupted


def cache_root() -> Path:
    """Where built engines and caches go ($DEPLOYPROF_CACHE, else ~/.cache/deployprof): never beside an input."""
    env = os.environ.get("DEPLOYPROF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "deployprof"


def confine(base: Path, relative: str, what: str) -> Path:
    """`relative`, read from a file in `base`, resolved (symlinks included) must stay inside `base`."""
    base = Path(base)
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ModelError(f"{what}: expected a file name relative to {base}, got {relative!r}")
    root = base.resolve()
    target = (base / relative).resolve()
    if target != root and root not in target.parents:
        raise ModelError(f"{what} {relative!r} resolves to {target}, outside {root}; refusing to read it "
                         "(keep every file an export names inside the export folder, without links that leave it)")
    return target


def _atomic(path: Path, write, binary: bool = False) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """A unique temporary file in the same folder, fsync, rename: readers see the old file or the new, never half."""
    _atomic(path, lambda fh: fh.write(text))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    _atomic(path, lambda fh: fh.write(data), binary=True)


def write_json_atomic(path: Path, payload: Any) -> None:
    def write(fh):
        json.dump(payload, fh, indent=1, sort_keys=False, allow_nan=True)
        fh.write("\n")
    _atomic(path, write)


def output_dir(out: Path, option: str = "--out") -> Path:
    """An output folder that exists and can be written, checked before any work is done."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {out} is a file; expected a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".deployprof-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {out} cannot be written ({exc.strerror or exc}); choose a folder you can write") from None
    return out


@contextlib.contextmanager
def staged_folder(dst: Path, force: bool = False) -> Iterator[Path]:
    """Build a folder under a unique temporary name next to `dst`; when the body succeeds it replaces `dst` whole,
    when it fails or is interrupted it is removed. `dst` is never a mix of two runs. An existing non-empty `dst`
    is replaced only with `force` (the caller's own folders, or the user's --force)."""
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ConfigError(f"{dst} is a file; expected a folder")
    if dst.is_dir() and any(dst.iterdir()) and not force:
        raise ConfigError(f"{dst} is not empty; pass --force to replace it, or choose another folder")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.tmp-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, dst)


def _swap_in(tmp: Path, dst: Path, tries: int = 20) -> None:
    """Move the finished folder to `dst`, moving any folder there aside first. Two runs finishing together each
    retry until theirs lands; the last one wins whole, and every folder moved aside is removed."""
    aside = []
    try:
        for _ in range(tries):
            old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:12]}")
            try:
                dst.rename(old)
                aside.append(old)
            except FileNotFoundError:
                pass
            try:
                tmp.rename(dst)
                return
            except OSError:  # another run put its folder there in between: move that one aside too
                continue
        raise ConfigError(f"{dst} kept changing while this run tried to replace it; is another run writing it?")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def run_marked(out: Path, what: str) -> Iterator[Path]:
    """Mark `out` as incomplete for the length of a run; the mark goes only when the run completes, so an
    interrupted run's folder (and any report left in it from before) is never taken for a fresh result."""
    out = output_dir(out)
    marker = out / RUN_MARKER
    write_text_atomic(marker, f"{what} started {datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                              "and has not completed: the files here may be partial or stale. Run it again.\n")
    yield out
    marker.unlink(missing_ok=True)


def ensure_complete(folder: Path) -> None:
    """Readers of a run's folder refuse one whose run was interrupted."""
    marker = Path(folder) / RUN_MARKER
    if marker.exists():
        raise ModelError(f"{folder} holds an interrupted run ({marker.name}: "
                         f"{marker.read_text(errors='replace').strip()[:200]})")
