"""Every hostile case through the real CLI, each in its own process and sandbox: the exit code, one `error:` line
(or click's usage error), no traceback, nothing changed outside --out, and peak memory where size is the attack."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from .corpus import CASES, TOPICS
from .forkserver import ForkServer
from .sandbox import Sandbox
from ..conftest import invoke

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tiny_export, tmp_path_factory):
    """The tiny export, a complete report of it, a store holding that report and its batch-1 FLOPs, made once for
    the whole corpus."""
    base = tmp_path_factory.mktemp("hostile-base")
    shutil.copytree(tiny_export, base / "export")
    res = invoke(["profile", str(base / "export"), "--out", str(base / "report"), "--iterations", "20",
                  "--warmup", "1", "--warmup-time", "0", "--in-process", "--store",
                  str(base / "store.sqlite")])
    assert res.exit_code == 0, res.output
    res = invoke(["flops", str(base / "export"), "--json"])
    (base / "flops_batch1.json").write_text(res.output)
    return base / "export"


def snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            key = str(p.relative_to(folder.parent))
            if p.is_symlink():
                out[key] = "link:" + os.readlink(p)
            elif p.is_file():
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[key] = "dir"
    return out


# where a command may write besides --out: the cache ($DEPLOYPROF_CACHE) and the default store. ONNX Runtime's own
# import writes its telemetry database (~/.cache/Microsoft/DeveloperTools/.onnxruntime) and TMPDIR/.ses, in its
# compiled library, with no switch to turn it off: the runtime's, not a run's.
OWN = {"home/cache", "home/.local/share/deployprof", "home/.cache/Microsoft/DeveloperTools/.onnxruntime"}
RUNTIME_TMP = {".ses"}


def written_outside(sb: Sandbox) -> list[str]:
    """What a run left in the working directory, TMPDIR or HOME (outside the cache and the store)."""
    left = [p for p in (*sb.cwd.iterdir(), *sb.tmp.iterdir()) if p.name not in RUNTIME_TMP]
    left += [p for p in sb.home.rglob("*") if p.is_file()
             and not any(str(p.relative_to(sb.root)).startswith(o) for o in OWN)]
    return sorted(str(p.relative_to(sb.root)) for p in left)


# `python -m deployprof ARGS`, reporting its own VmHWM at exit: ru_maxrss from wait4 would include the pytest
# process it was spawned from (the high-water mark survives exec), VmHWM starts afresh with the new image.
LAUNCH = """
import atexit, os, runpy, sys
def hwm():
    with open("/proc/self/status") as fh:
        kib = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(os.environ["DEPLOYPROF_TEST_HWM"], "w") as out:
        out.write(kib)
atexit.register(hwm)
sys.argv = ["deployprof", *sys.argv[1:]]
runpy.run_module("deployprof", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def forks():
    server = ForkServer(ROOT)
    yield server
    server.close()


def run_cli(args: list[str], sb: Sandbox, timeout: float = 300, extra_env: Optional[dict] = None,
            forks: Optional[ForkServer] = None) -> tuple[int, str, str, int]:
    """deployprof with a private HOME, TMPDIR and cache, forked from `forks` or else in a fresh process (which
    measures its peak memory); returns (code, out, err, peak RSS MiB, -1 when forked)."""
    hwm = sb.root / "hwm"
    env = {**os.environ, **(extra_env or {}), "HOME": str(sb.root / "home"), "TMPDIR": str(sb.root / "tmp"),
           "DEPLOYPROF_CACHE": str(sb.root / "home" / "cache"), "DEPLOYPROF_TEST_HWM": str(hwm),
           "PYTHONPATH": os.pathsep.join([str(sb.inp), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if forks is not None:
        done = forks.run(args, sb.cwd, env, [str(sb.inp), str(ROOT)], sb.root, timeout)
        if done is None:
            pytest.fail(f"deployprof {' '.join(args)} ran past {timeout} s")
        return (*done, -1)
    try:
        proc = subprocess.run([sys.executable, "-c", LAUNCH, *args], cwd=sb.cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"deployprof {' '.join(args)} ran past {timeout} s")
    rss_mib = int(hwm.read_text()) // 1024 if hwm.exists() else -1
    hwm.unlink(missing_ok=True)
    return proc.returncode, proc.stdout, proc.stderr, rss_mib


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case, base, tmp_path, forks):
    sb = Sandbox(tmp_path, base)
    args = case.make(sb)
    before = snapshot(sb.inp, sb.victim)
    code, out, err, rss_mib = run_cli(args, sb, extra_env=case.env,
                                      forks=None if case.max_rss_mib is not None else forks)
    shown = f"deployprof {' '.join(args)}\nexit {code}\nstdout: {out[-1500:]}\nstderr: {err[-1500:]}"
    assert "Traceback" not in out + err and "internal error" not in err, shown
    assert code == case.code, shown
    # Phase progress ("[2/4] measuring ...", piped: one plain line per phase) is not an error line; the rest is held
    # to one `error:` line.
    lines = [line for line in err.splitlines() if line.strip() and not re.match(r"\[\d+/(\d+|\?)\] ", line)]
    if case.code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), shown
        assert re.search(case.message, lines[0]), shown
    elif case.code == 2:
        assert any(line.startswith("Error: ") for line in lines), shown
    elif case.message:
        assert re.search(case.message, out), shown
    assert snapshot(sb.inp, sb.victim) == before, f"{shown}\nan input or a file outside --out changed"
    assert not list(tmp_path.glob("**/*.tmp")), "a temporary file was left behind"
    assert written_outside(sb) == [], f"{shown}\nwritten outside --out, the cache and the store"
    if case.max_rss_mib is not None:
        assert 0 < rss_mib < case.max_rss_mib, f"{shown}\npeak RSS {rss_mib} MiB, bound {case.max_rss_mib} MiB"
    if case.check is not None:
        case.check(sb, out)
    print(f"{case.id}: exit {code}, peak {rss_mib} MiB: {lines[-1] if lines else out.strip()[:80]}")


def test_the_corpus_is_large_grouped_by_topic_and_documented():
    assert len(CASES) >= 150 and len({c.id for c in CASES}) == len(CASES)
    assert all(topic.CASES for topic in TOPICS), "a topic module without cases"
    doc = (ROOT / "docs" / "HOSTILE.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([\w-]+)` \| (.+?) \|", doc, re.M)}
    assert rows == {c.id: c.expect for c in CASES}, "docs/HOSTILE.md is out of step with the corpus: " \
        "regenerate it with `python -m tests.hostile.doc > docs/HOSTILE.md`"


def test_stdout_on_a_full_device_is_one_error_line(base, tmp_path):
    """`> /dev/full`: the write fails when the result is printed; one line says so (once an internal error)."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "deployprof", "flops", str(base), "--json"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "error: cannot write the output: No space left on device; free space, or write somewhere else"], proc.stderr


@pytest.mark.slow
def test_concurrent_exports_into_one_folder_leave_one_whole_export(tmp_path):
    """Two `export --out D` at once once crashed on a shared temp name; now each builds aside and the last wins whole."""
    sb = Sandbox(tmp_path, Path("."))
    procs = [subprocess.Popen([sys.executable, "-m", "deployprof", "export", "tiny-vla", "--out", str(sb.out / "d"), "--force"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=sb.out,
                              env={**os.environ, "TMPDIR": str(sb.root / "tmp")}) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    manifest = json.loads((sb.out / "d" / "manifest.json").read_text())
    assert sorted(p.name for p in (sb.out / "d").iterdir()) == sorted(["manifest.json", *(s["file"] for s in manifest["stages"])])
    assert [p.name for p in sb.out.iterdir()] == ["d"], "a staging or moved-aside folder was left behind"


def _sigint_default() -> None:
    """A shell's `cmd &` (as CI may start us) leaves SIGINT ignored, and Python then never raises
    KeyboardInterrupt: the child gets the default disposition back, as a user at a terminal has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_when(proc: subprocess.Popen, ready, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run never reached the point to interrupt"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=120)


@pytest.mark.slow
def test_interrupted_re_export_keeps_the_old_export_whole(base, tmp_path):
    sb = Sandbox(tmp_path, base)
    dst = sb.out / "d"
    shutil.copytree(base, dst)
    before = snapshot(dst)
    proc = subprocess.Popen([sys.executable, "-m", "deployprof", "export", "tiny-vla", "--out", str(dst), "--force"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=sb.out,
                            preexec_fn=_sigint_default)
    code = _interrupt_when(proc, lambda: any(p.name.endswith(".onnx") for p in sb.out.glob(".d.tmp-*/*")))
    err = proc.stderr.read()
    assert code == 130 and err.strip() == "error: interrupted (an output folder being written is marked INCOMPLETE)", err
    assert snapshot(dst) == before and [p.name for p in sb.out.iterdir()] == ["d"]


@pytest.mark.slow
def test_interrupted_profile_marks_its_folder_and_readers_refuse_it(base, tmp_path):
    sb = Sandbox(tmp_path, base)
    out = sb.out / "p"
    shutil.copytree(base.parent / "report", out)   # a previous, complete report that must not pass for fresh
    proc = subprocess.Popen([sys.executable, "-m", "deployprof", "profile", str(base), "--out", str(out), "--duration", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=sb.out,
                            preexec_fn=_sigint_default)
    code = _interrupt_when(proc, lambda: (out / "INCOMPLETE").exists())
    assert code == 130 and (out / "INCOMPLETE").exists()
    assert not list(out.glob("**/*.tmp"))
    for args in (["report", str(out)], ["compare", str(out), str(base.parent / "report")]):
        res = invoke(args)
        assert res.exit_code == 1 and "interrupted run" in res.output, res.output
