"""Output and run folders: checked before work, never mixing two runs, never losing a file deployprof did not
write."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from .. import conftest
from .sandbox import Case, Sandbox


def export_into_non_empty(sb: Sandbox) -> list[str]:
    (sb.out / "mine").mkdir()
    (sb.out / "mine" / "notes.txt").write_text("the user's own files")
    return ["export", "tiny-vla", "--out", str(sb.out / "mine")]


def _unchanged_notes(sb: Sandbox, stdout: str) -> None:
    assert (sb.out / "mine" / "notes.txt").read_text() == "the user's own files"


def _foreign_sqlite(command):
    def make(sb: Sandbox) -> list[str]:
        path = sb.victim / "browser.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE cookies (host TEXT, value TEXT)")
            conn.execute("INSERT INTO cookies VALUES ('example.org', 'secret')")
        conn.close()
        return command(sb, path)
    return make


def _user_export_folder(command: str):
    """--out holds the user's own export/ folder (not one deployprof made there)."""
    folder = "export" if command == "profile" else "export-fp16"

    def make(sb: Sandbox) -> list[str]:
        mine = sb.out / "d" / folder
        mine.mkdir(parents=True)
        (mine / "my_notes.txt").write_text("the user's own work")
        if command == "profile":
            return ["profile", "tiny-vla", "--out", str(sb.out / "d"), "--iterations", "5", "--in-process"]
        return ["compare-precision", str(sb.export()), "--precisions", "fp16", "--samples", "1", "--out", str(sb.out / "d")]
    return make


def _user_export_kept(sb: Sandbox, stdout: str) -> None:
    assert [p.read_text() for p in (sb.out / "d").glob("export*/my_notes.txt")] == ["the user's own work"]


HOLD = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)\n")


def _busy_out(command):
    """Another run holds --out (its lock, as a running profile or sweep does): a second run is refused at once."""
    def make(sb: Sandbox) -> list[str]:
        out = sb.out / "d"
        out.mkdir()
        sb.holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out / ".deployprof.lock")], stdout=subprocess.PIPE,
                                     text=True)
        assert sb.holder.stdout.readline().strip() == "held"
        if command == "sweep":
            return ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\n")), "--out", str(out)]
        return ["profile", str(sb.export()), "--out", str(out), "--iterations", "5", "--in-process"]
    return make


def _release(sb: Sandbox, stdout: str) -> None:
    sb.holder.kill()
    sb.holder.wait()
    assert not (sb.out / "d" / "report.json").exists() and not (sb.out / "d" / "sweep.json").exists()


def _two_stores_typo(sb: Sandbox) -> list[str]:
    return ["history", "--store", str(sb.out / "no-such-dir-typo" / "results.sqlite")]


def _no_store_created(sb: Sandbox, stdout: str) -> None:
    assert not (sb.out / "no-such-dir-typo").exists()


def _foreign_unchanged(sb: Sandbox, stdout: str) -> None:
    with sqlite3.connect(f"file:{sb.victim / 'browser.sqlite'}?mode=ro", uri=True) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["cookies"]


FAST = [*conftest.FAST, "--accuracy-samples", "1"]


def _another_run(force: bool):
    """--out holds a finished report of another subject (the tiny export's report), and a stale export-int8/."""
    def make(sb: Sandbox) -> list[str]:
        h1 = Path(shutil.copytree(sb.report(), sb.out / "h1"))
        shutil.copytree(sb.export_src, h1 / "export-int8")
        return ["profile", str(sb.export("other")), "--out", str(h1), *FAST, *(["--force"] if force else [])]
    return make


def _kept_report(sb: Sandbox, stdout: str) -> None:
    h1 = sb.out / "h1"
    assert json.loads((h1 / "report.json").read_text()) == json.loads((sb.export_src.parent / "report" / "report.json").read_text())
    assert (h1 / "export-int8").is_dir() and not (h1 / "INCOMPLETE").exists()


def _replaced_whole(sb: Sandbox, stdout: str) -> None:
    h1 = sb.out / "h1"
    report = json.loads((h1 / "report.json").read_text())
    assert report["model"]["source"].endswith("other") and not (h1 / "export-int8").exists(), sorted(os.listdir(h1))


def _user_file_in_run(link: bool):
    """A finished report folder where the user keeps a file of their own (or put a link where a report file goes)."""
    def make(sb: Sandbox) -> list[str]:
        h1 = Path(shutil.copytree(sb.report(), sb.out / "h1"))
        if link:
            (sb.victim / "victim.txt").write_text("the user's")
            (h1 / "report.md").unlink()
            (h1 / "report.md").symlink_to(sb.victim / "victim.txt")
        else:
            (h1 / "notes.txt").write_text("the user's own notes")
        return ["profile", str(sb.export("other")), "--out", str(h1), "--force", *FAST]
    return make


def _debug_user_files(sb: Sandbox) -> list[str]:
    """precision-debug's --out holds the user's own files under the names it writes."""
    mine = sb.out / "mine"
    (mine / "export-int8-mixed").mkdir(parents=True)
    (mine / "reference.npz").write_text("mine")
    (mine / "evaluations.json").write_text('{"mine": 1}')
    (mine / "export-int8-mixed" / "notes.txt").write_text("mine")
    return ["precision-debug", str(sb.export()), "--precision", "int8", "--samples", "1", "--out", str(mine)]


def _debug_files_kept(sb: Sandbox, stdout: str) -> None:
    mine = sb.out / "mine"
    assert (mine / "reference.npz").read_text() == "mine" and (mine / "evaluations.json").read_text() == '{"mine": 1}'
    assert sorted(p.name for p in mine.iterdir()) == ["evaluations.json", "export-int8-mixed", "reference.npz"]


def _debug_reference_link(sb: Sandbox) -> list[str]:
    """A precision-debug run folder whose reference.npz is a link to a file of the user's."""
    exp = sb.export()
    run = sb.recorded(sb.out / "d", "precision-debug", f"{exp.resolve()} at fp16")
    (sb.victim / "victim.txt").write_text("the user's")
    (run / "reference.npz").symlink_to(sb.victim / "victim.txt")
    return ["precision-debug", str(exp), "--precision", "fp16", "--samples", "1", "--out", str(run)]


def _sweep_into_a_profile(sb: Sandbox) -> list[str]:
    shutil.copytree(sb.report(), sb.out / "h1")
    return ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\nbackends: [ort-cpu]\n")), "--out", str(sb.out / "h1"),
            "--store", str(sb.out / "s.sqlite")]


def _device_cuda_skipped(sb: Sandbox) -> list[str]:
    return ["profile", str(sb.export()), "--backends", "torch,ort-cpu", "--skip-unavailable", "--device", "cuda",
            "--out", str(sb.out / "p"), *FAST]


def _ort_cpu_kept(sb: Sandbox, stdout: str) -> None:
    report = json.loads((sb.out / "p" / "report.json").read_text())
    assert {r["backend"] for r in report["runs"]} == {"ort-cpu"}, report["runs"]
    assert any("skipped backend torch: --device cuda" in w for w in report["warnings"]), report["warnings"]


CASES: list[Case] = [
    Case("target-yaml-binary", "a binary target profile YAML is one error line",
         lambda sb: ["predict", str(sb.export()), "--target", str(sb.write("t.yaml", bytes(range(256)) * 4))],
         message="target profile"),
    Case("profile-out-is-file", "`profile --out FILE` is refused before any work",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.write("f.txt", "x"))], message="is a file"),
    Case("profile-out-under-file", "an --out that cannot be created is refused before any work",
         lambda sb: ["profile", str(sb.export()), "--out", str(sb.write("g.txt", "x") / "sub")], message="cannot be written"),
    Case("train-bench-out-is-file", "`train-bench --out FILE` is refused before training",
         lambda sb: ["train-bench", "tiny-vla", "--out", str(sb.write("t.txt", "x"))], message="is a file"),
    Case("export-non-empty-out", "`export` into a folder with other files needs --force; the files stay",
         export_into_non_empty, message="not empty", check=_unchanged_notes),
    Case("profile-out-user-export", "`profile --out D` never deletes a D/export/ folder it did not make",
         _user_export_folder("profile"), message="did not write", check=_user_export_kept),
    Case("compare-precision-out-user-export", "`compare-precision --out D` never deletes D/export/ of the user's",
         _user_export_folder("compare-precision"), message="did not write", check=_user_export_kept),
    Case("profile-out-busy", "`profile --out D` while another run writes D is refused at once (no lost report)",
         _busy_out("profile"), message="another deployprof run is writing", check=_release),
    Case("sweep-out-busy", "`sweep --out D` while another sweep writes D is refused at once",
         _busy_out("sweep"), message="another deployprof run is writing", check=_release),
    Case("store-foreign-sqlite-history", "`history --store` on another application's SQLite file is refused, unaltered",
         _foreign_sqlite(lambda sb, p: ["history", "--store", str(p)]), message="not a deployprof", check=_foreign_unchanged),
    Case("store-foreign-sqlite-bench", "`bench --store` on another application's SQLite file is refused before work",
         _foreign_sqlite(lambda sb, p: ["bench", str(sb.matmul()), "--iterations", "2", "--store", str(p)]),
         message="not a deployprof", check=_foreign_unchanged),
    Case("history-store-typo", "`history --store` naming a store that does not exist is an error, and creates nothing",
         _two_stores_typo, message="no results store", check=_no_store_created),
    # round 3: a folder holding another run, files a run did not write, a backend that cannot run
    Case("profile-out-holds-another-run", "`profile X --out D` where D holds another subject's report is refused "
         "before work (pass --force); the report and its exports stay", _another_run(False),
         message=r"holds a profile run of .* pass --force to replace it", check=_kept_report),
    Case("profile-out-force-replaces-whole", "`profile --force` replaces another run's folder whole: no export of the "
         "old run is left beside the new report", _another_run(True), code=0, check=_replaced_whole),
    Case("profile-out-user-file-with-force", "a file of the user's in a run folder is never deleted, even with --force",
         _user_file_in_run(False), message=r"holds files deployprof did not write \(notes\.txt\)"),
    Case("profile-out-report-link", "a link where a report file goes is refused, even with --force (nothing written "
         "through it)", _user_file_in_run(True), message=r"did not write \(report\.md\)"),
    Case("precision-debug-out-user-files", "`precision-debug --out D` where D holds the user's reference.npz, "
         "evaluations.json and export-int8-mixed/notes.txt is refused before the search; nothing replaced",
         _debug_user_files, message=r"holds files deployprof did not write \(export-int8-mixed/", check=_debug_files_kept),
    Case("precision-debug-reference-link", "a link at RUN/reference.npz is refused before work (np.savez once wrote "
         "through it)", _debug_reference_link, message=r"did not write \(reference\.npz\)"),
    Case("sweep-out-holds-a-profile", "`sweep --out D` where D holds a profile's report is refused before work",
         _sweep_into_a_profile, message=r"holds a profile run of .* pass --force"),
    Case("profile-skip-unavailable-device-cuda", "`--backends torch,ort-cpu --skip-unavailable --device cuda` without "
         "CUDA skips torch before work and keeps ort-cpu's measurements", _device_cuda_skipped, code=0,
         check=_ort_cpu_kept),
]
