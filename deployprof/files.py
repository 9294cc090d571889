"""Every path deployprof reads on a file's say-so, and every file it writes, goes through here: read paths are
confined to the folder of the file that named them; writes are atomic, uniquely named and all-or-nothing; a run's
folder is marked until the run completes. Inputs from other people and other machines are normal input."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError, ModelError

RUN_MARKER = "INCOMPLETE"   # present while a run writes its folder; a folder that still has it was interrupted
MAX_DOCUMENT_BYTES = 64 << 20  # a spec, sweep, preset, target, manifest or report.json: far above any real one


def regular_file(path: Path, what: str, error: type = ConfigError) -> os.stat_result:
    """A file named by the user or by another file must be a regular file: reading a FIFO blocks until someone
    writes to it, a device may never end. Checked before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} {path} is a folder; expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is not a regular file (a FIFO, socket or device); pass the file itself")
    return st


def read_document(path: Path, what: str, error: type = ConfigError, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """A text document someone handed us: a regular file, at most `max_bytes` (checked before reading), UTF-8."""
    size = regular_file(path, what, error).st_size
    too_big = f"{what} {path} is over {max_bytes >> 20} MiB; no {what} is that large (is it the right file?)"
    if size > max_bytes:
        raise error(too_big)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(too_big)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text (a binary file?)") from None


def parse_yaml(text: str, where: str, error: type = ConfigError):
    """YAML as data only (safe_load's types), refusing aliases: nested aliases expand to billions of nodes for
    whoever walks the result (a "billion laughs"), and no deployprof file needs them."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise error(f"{where}: YAML aliases (*name) are not accepted (line {mark.line + 1}); write the values out")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=NoAliases)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{where}: not valid YAML{at} ({getattr(exc, 'problem', None) or str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise error(f"{where}: YAML nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(f"{where}: a value cannot be read ({str(exc).splitlines()[0][:120]})") from None


def parse_json(text: str, where: str, error: type = ModelError):
    """JSON from a file someone handed us: malformed, nested thousands deep or holding integers of thousands of
    digits is one error naming the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise error(f"{where} is JSON nested too deeply to be a deployprof file") from None
    except ValueError as exc:
        raise error(f"{where}: a value cannot be read ({str(exc).splitlines()[0][:120]})") from None


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
    if path.is_symlink():  # replacing it would lose the user's link; writing through it, the file it points at
        raise ConfigError(f"{path} is a link; deployprof writes only files of its own: remove the link, or choose "
                          "another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # a path with a byte that is not UTF-8 (a surrogate escape in Python) is written as \udcXX, not a crash
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace")) as fh:
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


def write_stream_atomic(path: Path, write) -> None:
    """`write(fh)` into a binary file, atomically (np.savez, which would otherwise follow a link at `path`)."""
    _atomic(path, write, binary=True)


def write_json_atomic(path: Path, payload: Any) -> None:
    def write(fh):
        json.dump(payload, fh, indent=1, sort_keys=False, allow_nan=True)
        fh.write("\n")
    _atomic(path, write)


def cannot_create(path: Path, exc: OSError, option: str = "--out") -> ConfigError:
    """Why a folder or file cannot be made at `path`, naming a file that stands where a folder must be."""
    blocker = next((p for p in Path(path).parents if p.exists()), None)
    why = f"{blocker} is a file" if blocker is not None and not blocker.is_dir() else (exc.strerror or str(exc))
    return ConfigError(f"{option} {path} cannot be written ({why}); choose a folder you can write")


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
        raise cannot_create(out, exc, option) from None
    return out


def is_own_export(folder: Path) -> bool:
    """A folder deployprof wrote as an export: a manifest.json and only the files it names (and their external
    data). Anything else in it is the user's, which a run never deletes."""
    try:
        data = parse_json(read_document(Path(folder) / "manifest.json", "manifest"), "manifest")
        named = {"manifest.json", *(str(s["file"]) for s in data["stages"])}
        return all(p.is_file() and not p.is_symlink() and any(p.name == n or p.name.startswith(n + ".") for n in named)
                   for p in Path(folder).iterdir())
    except Exception:
        return False


@contextlib.contextmanager
def staged_folder(dst: Path, force: bool = False, own: bool = False) -> Iterator[Path]:
    """Build a folder under a unique temporary name next to `dst`; when the body succeeds it replaces `dst` whole,
    when it fails or is interrupted it is removed. `dst` is never a mix of two runs. An existing non-empty `dst`
    is replaced only with `force` (the user's --force), or with `own` when it is an export deployprof made (a
    run's OUT/export*, which holds nothing of the user's)."""
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ConfigError(f"{dst} is a file; expected a folder")
    if dst.is_dir() and any(dst.iterdir()) and not force:
        if own and not is_own_export(dst):
            raise ConfigError(f"{dst} holds files deployprof did not write; move them, or choose another --out "
                              "(a run replaces only the exports it made there)")
        if not own:
            raise ConfigError(f"{dst} is not empty; pass --force to replace it, or choose another folder")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.tmp-"))
    except OSError as exc:  # a file where a folder must be, a read-only or virtual file system
        raise cannot_create(dst, exc) from None
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
def folder_lock(folder: Path) -> Iterator[None]:
    """One run writes a folder at a time: a second one into it is refused at once (two profiles into one --out
    once both exited 0 and one report was lost). The lock is the kernel's: it goes with the process, however it ends."""
    import fcntl

    fd = os.open(Path(folder) / ".deployprof.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another deployprof run is writing {folder}; wait for it to finish, or choose "
                              "another --out") from None
        yield
    finally:
        os.close(fd)


def ensure_complete(folder: Path) -> None:
    """Readers of a run's folder refuse one whose run was interrupted."""
    marker = Path(folder) / RUN_MARKER
    if marker.exists():
        raise ModelError(f"{folder} holds an interrupted run ({marker.name}: "
                         f"{marker.read_text(errors='replace').strip()[:200]})")
