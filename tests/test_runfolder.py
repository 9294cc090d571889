"""What a run does with an existing --out, decided before any work (deployprof/runfolder.py)."""
import json
import os

import pytest

from deployprof.errors import ConfigError
from deployprof.files import RUN_MARKER, write_text_atomic
from deployprof.runfolder import PRECISION_DEBUG, PROFILE, RECORD, SWEEP, SWEEP_EXPORT, claim, run_folder


def _finished(out, kind=PROFILE, subject="tiny-vla"):
    with run_folder(out, kind, subject):
        (out / "report.json").write_text("{}")
        (out / "export").mkdir()
        (out / "export" / "manifest.json").write_text(json.dumps({"stages": [{"file": "a.onnx"}]}))
        (out / "export" / "a.onnx").write_bytes(b"x")


def test_a_new_or_empty_folder_is_fresh_and_gets_a_record(tmp_path):
    with run_folder(tmp_path / "new", PROFILE, "tiny-vla") as out:
        assert (out / RUN_MARKER).exists()
    assert not (out / RUN_MARKER).exists()
    assert json.loads((out / RECORD).read_text())["subject"] == "tiny-vla"


def test_another_subjects_run_is_refused_without_force_and_replaced_whole_with_it(tmp_path):
    out = tmp_path / "h1"
    _finished(out, subject="tiny-vla")
    with pytest.raises(ConfigError, match=r"holds a profile run of tiny-vla .*pass --force"):
        with run_folder(out, PROFILE, "pi0-tiny"):
            pass
    assert (out / "report.json").exists()            # refused before anything was touched
    with run_folder(out, PROFILE, "pi0-tiny", force=True):
        assert sorted(p.name for p in out.iterdir()) == sorted([RECORD, RUN_MARKER, ".deployprof.lock"])


def test_the_same_run_again_replaces_a_profile_and_resumes_a_precision_debug(tmp_path):
    _finished(tmp_path / "p")
    with run_folder(tmp_path / "p", PROFILE, "tiny-vla"):
        assert not (tmp_path / "p" / "export").exists()    # never two runs mixed
    d = tmp_path / "d"
    with run_folder(d, PRECISION_DEBUG, "x at int8"):
        (d / "evaluations.json").write_text("{}")
    with run_folder(d, PRECISION_DEBUG, "x at int8"):
        assert (d / "evaluations.json").exists()           # the cache a rerun resumes from


@pytest.mark.parametrize("make", [
    lambda d: (d / "notes.txt").write_text("mine"),
    lambda d: (d / "reference.npz").write_text("mine, named like a run's file, in a folder no run recorded"),
    lambda d: ((d / "export-int8-mixed").mkdir(), (d / "export-int8-mixed" / "notes.txt").write_text("mine")),
    lambda d: os.symlink(d.parent / "victim.txt", d / "reference.npz"),
    lambda d: os.mkfifo(d / "evaluations.json"),
], ids=["unknown-file", "known-name-no-record", "user-file-in-an-export", "link", "fifo"])
def test_files_deployprof_did_not_write_are_refused_even_with_force(tmp_path, make):
    d = tmp_path / "mine"
    d.mkdir()
    (tmp_path / "victim.txt").write_text("victim")
    make(d)
    if (d / "reference.npz").exists() and not (d / "reference.npz").is_symlink():
        with pytest.raises(ConfigError, match="no record"):   # named like ours: refused without --force ...
            claim(d, PRECISION_DEBUG, "x at int8", force=False)
        return
    before = sorted(p.name for p in d.iterdir())
    with pytest.raises(ConfigError, match="did not write"):
        claim(d, PRECISION_DEBUG, "x at int8", force=True)
    assert sorted(p.name for p in d.iterdir()) == before and (tmp_path / "victim.txt").read_text() == "victim"


def test_a_sweep_folder_owns_its_runs_and_exports(tmp_path):
    out = tmp_path / "s"
    with run_folder(out, SWEEP, "s.yaml"):
        _finished(out / "runs" / "k1")
        with run_folder(out / "exports" / "tiny-vla", SWEEP_EXPORT, "tiny-vla"):
            (out / "exports" / "tiny-vla" / "export").mkdir()
        (out / "sweep.json").write_text("{}")
    assert claim(out, SWEEP, "s.yaml", force=False) == ("resumed", [])
    (out / "runs" / "k1" / "mine.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"\(runs/k1/mine.txt\)"):
        claim(out, SWEEP, "s.yaml", force=True)


def test_the_atomic_writer_refuses_a_link(tmp_path):
    (tmp_path / "victim").write_text("v")
    os.symlink(tmp_path / "victim", tmp_path / "report.md")
    with pytest.raises(ConfigError, match="is a link"):
        write_text_atomic(tmp_path / "report.md", "x")
    assert (tmp_path / "victim").read_text() == "v" and (tmp_path / "report.md").is_symlink()
