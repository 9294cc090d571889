"""The preset export cache: a second profile of the same preset copies the export whole; anything else re-exports."""
import logging
import os

import pytest

from deployprof import export_cache
from deployprof.presets import load_preset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYPROF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "exports"


def _export_folder(path, payload=b"graph"):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text("{}")
    (path / "vision.onnx").write_bytes(payload)
    return path


def _key(**changes):
    args = {"exporter": None, "meta": False, "seed": 0, "atol": 1e-4, "rtol": 1e-4, **changes}
    return export_cache.key(load_preset("octo-tiny"), **args)


def test_a_preset_profiled_twice_is_exported_once_and_the_second_run_says_so(cache, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from deployprof import export as export_mod
    from deployprof.pipeline import resolve_subject

    said = []
    resolve_subject("octo-tiny", tmp_path / "run1", say=said.append)
    assert said == [f"exporting octo-tiny to {tmp_path / 'run1' / 'export'}"] and len(list(cache.iterdir())) == 1

    def no_export(*a, **k):
        raise AssertionError("exported again although the cache holds the same export")

    monkeypatch.setattr(export_mod, "_export_stages", no_export)
    said.clear()
    resolve_subject("octo-tiny", tmp_path / "run2", say=said.append)
    assert len(said) == 1 and "was in the cache" in said[0]   # one phase of the progress bar, as an export is
    files = sorted(p.name for p in (tmp_path / "run1" / "export").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "run2" / "export").iterdir()) and "manifest.json" in files
    for name in files:
        assert (tmp_path / "run1" / "export" / name).read_bytes() == (tmp_path / "run2" / "export" / name).read_bytes()


def test_everything_that_changes_an_export_changes_the_key(monkeypatch):
    base = _key()
    assert len({base, _key(exporter="torchscript"), _key(meta=True), _key(seed=1), _key(atol=1e-3), _key(rtol=0.0)}) == 6
    assert export_cache.key(load_preset("act-tiny"), exporter=None, meta=False, seed=0, atol=1e-4, rtol=1e-4) != base
    monkeypatch.setattr(export_cache, "_versions", lambda: {"torch": "9.9"})
    assert _key() != base
    monkeypatch.undo()
    monkeypatch.setattr(export_cache, "_source_digest", lambda: "another deployprof")
    assert _key() != base


def test_a_damaged_entry_is_removed_said_and_a_miss(cache, tmp_path, caplog):
    export_cache.keep("k", _export_folder(tmp_path / "made"))
    (cache / "k" / "vision.onnx").write_bytes(b"grapH")   # same size, other bytes
    dst = tmp_path / "dst"
    dst.mkdir()
    with caplog.at_level(logging.WARNING):
        assert not export_cache.restore("k", dst)
    assert "damaged" in caplog.text and "vision.onnx" in caplog.text
    assert not (cache / "k").exists() and not any(dst.iterdir())


@pytest.mark.parametrize("record", ['{"files": {"../x": {"bytes": 1, "sha256": "0"}}}', "not json", '{"files": 3}',
                                    '{"files": {}}'])
def test_a_record_that_names_a_file_outside_or_is_not_one_is_a_miss(cache, tmp_path, record):
    export_cache.keep("k", _export_folder(tmp_path / "made"))
    (cache / "k" / export_cache.ENTRY).write_text(record)
    dst = tmp_path / "dst"
    dst.mkdir()
    assert not export_cache.restore("k", dst) and not (cache / "k").exists() and not (tmp_path / "x").exists()


def test_a_file_of_the_entry_that_is_a_link_is_damage(cache, tmp_path):
    export_cache.keep("k", _export_folder(tmp_path / "made"))
    (tmp_path / "elsewhere.onnx").write_bytes(b"graph")   # the same bytes, through a link
    (cache / "k" / "vision.onnx").unlink()
    (cache / "k" / "vision.onnx").symlink_to(tmp_path / "elsewhere.onnx")
    dst = tmp_path / "dst"
    dst.mkdir()
    assert not export_cache.restore("k", dst) and not (cache / "k").exists() and (tmp_path / "elsewhere.onnx").exists()


def test_a_whole_entry_restores_and_a_missing_one_is_a_plain_miss(cache, tmp_path):
    export_cache.keep("k", _export_folder(tmp_path / "made"))
    dst = tmp_path / "dst"
    dst.mkdir()
    assert not export_cache.restore("other", dst)
    assert export_cache.restore("k", dst)
    assert sorted(p.name for p in dst.iterdir()) == ["manifest.json", "vision.onnx"]
    assert (dst / "vision.onnx").read_bytes() == b"graph"


def test_the_first_entry_for_a_key_stays_and_no_partial_entry_is_left(cache, tmp_path):
    export_cache.keep("k", _export_folder(tmp_path / "a", b"first"))
    export_cache.keep("k", _export_folder(tmp_path / "b", b"second"))
    assert (cache / "k" / "vision.onnx").read_bytes() == b"first"
    assert sorted(p.name for p in cache.iterdir()) == ["k"]


def test_large_exports_are_not_kept_and_old_entries_go(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(export_cache, "MAX_ENTRY_BYTES", 10)
    export_cache.keep("big", _export_folder(tmp_path / "big", b"x" * 11))
    assert not (cache / "big").exists()
    monkeypatch.setattr(export_cache, "MAX_ENTRY_BYTES", 1 << 20)
    monkeypatch.setattr(export_cache, "MAX_ENTRIES", 2)
    for i, name in enumerate(("a", "b")):
        export_cache.keep(name, _export_folder(tmp_path / name))
        os.utime(cache / name / export_cache.ENTRY, (1000 + i, 1000 + i))
    dst = tmp_path / "dst"
    dst.mkdir()
    assert export_cache.restore("a", dst)   # used most recently: kept
    export_cache.keep("c", _export_folder(tmp_path / "c"))
    assert sorted(p.name for p in cache.iterdir()) == ["a", "c"]
