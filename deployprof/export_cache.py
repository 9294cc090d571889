"""Preset exports kept in $DEPLOYPROF_CACHE/exports/KEY, so that the next `profile`, `bench`, `compare-precision` or
sweep of the same preset copies its export instead of tracing and parity-checking every stage again (about 13 s of
the 20 s of `profile tiny-vla --iterations 20 --backends ort-cpu` on 2 cores: docs/BENCHMARKS.md). The key is everything that changes the export: the preset's configuration,
the exporter asked for, the weights mode, seed and tolerances, the torch / onnx / onnxscript / onnxruntime versions
and the source of deployprof itself (a changed exporter or model family is another key). Each entry records its
files' sizes and SHA-256; a copy that differs from them is discarded with a warning and the preset exported afresh.
`deployprof export` always exports: it is the command that asks for one."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from .files import cache_root, parse_json, read_document, write_json_atomic

log = logging.getLogger(__name__)
ENTRY = "entry.json"
MAX_ENTRY_BYTES = 256 << 20   # a larger export (real weights of a big preset) is not kept: disk grows unseen
MAX_ENTRIES = 32              # the least recently used beyond these are removed


def root() -> Path:
    return cache_root() / "exports"


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """deployprof's own code (every .py of the package): a changed exporter, family or manifest is another key."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for dist in ("torch", "onnx", "onnxscript", "onnxruntime", "numpy"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "absent"
    return found


def key(preset, *, exporter: Optional[str], meta: bool, seed: int, atol: float, rtol: float) -> str:
    payload = {"preset": preset.name, "config": preset.config, "exporter": exporter, "meta": meta, "seed": seed,
               "atol": atol, "rtol": rtol, "versions": _versions(), "source": _source_digest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def restore(k: str, dst: Path) -> bool:
    """Copy entry `k` into the empty folder `dst`, checking every file against the entry's record: True when it is
    there whole. A missing entry is a miss; a damaged one is removed (and said) and is a miss too."""
    entry = root() / k
    if not (entry / ENTRY).is_file():
        return False
    try:
        record = parse_json(read_document(entry / ENTRY, "export cache entry"), "export cache entry")
        files = {str(name): (int(v["bytes"]), str(v["sha256"])) for name, v in record["files"].items()}
        if "manifest.json" not in files:
            raise ValueError("it records no manifest.json")
        for name, (size, digest) in files.items():
            if Path(name).name != name or name in ("", ".", "..") or (entry / name).is_symlink():
                raise ValueError(f"file name {name!r} (a plain file of the entry's own folder expected)")
            got_size, got_digest = _copy_hashed(entry / name, dst / name)
            if (got_size, got_digest) != (size, digest):
                raise ValueError(f"{name} is {got_size} bytes with SHA-256 {got_digest[:12]}, the entry recorded "
                                 f"{size} bytes, {digest[:12]}")
        os.utime(entry / ENTRY)   # recently used: kept longest
        return True
    except Exception as exc:  # any damage (unreadable record, a changed or missing file) makes the entry useless
        log.warning("the cached export %s is damaged (%s); removed, exporting afresh", entry, str(exc).splitlines()[0][:200])
        shutil.rmtree(entry, ignore_errors=True)
        for p in dst.iterdir():
            p.unlink()
        return False


def keep(k: str, folder: Path) -> None:
    """Add a finished export to the cache under `k` (a whole entry, renamed into place: readers never see a partial
    one; two runs adding the same key keep whichever lands first). Failing to keep one is never the run's failure."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    base = root()
    if sum(p.stat().st_size for p in files) > MAX_ENTRY_BYTES or (base / k).exists():
        return
    tmp = None
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{k}.tmp-"))
        record = {name: {"bytes": size, "sha256": digest}
                  for name, (size, digest) in ((p.name, _copy_hashed(p, tmp / p.name)) for p in files)}
        write_json_atomic(tmp / ENTRY, {"key": k, "files": record})
        tmp.rename(base / k)
        tmp = None
        _evict(base)
    except OSError as exc:   # a full or read-only disk, or the same key landing first from another run
        log.info("export not cached (%s)", exc)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _evict(base: Path) -> None:
    entries = sorted((p for p in base.iterdir() if (p / ENTRY).is_file()), key=lambda p: (p / ENTRY).stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        shutil.rmtree(old, ignore_errors=True)


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    return size, h.hexdigest()
