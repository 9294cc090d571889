"""The results store on SQLite (always) and PostgreSQL (a server started by the suite): the same code, whole
documents in one transaction, filters, migrations, and a store that cannot be reached costing a warning only."""
import dataclasses
import json

import pytest

from deployprof import store as store_mod
from deployprof.results import document
from deployprof.store import (SCHEMA, Store, StoreError, StoreOptions, check_before_work, digest, parse_filters, record,
                              to_url)
from deployprof.errors import ConfigError

from .test_results import make_report


def _doc(**changes):
    rep = make_report()
    if changes:
        rep = dataclasses.replace(rep, **changes)
    return document(rep)


def _round_trip(url):
    with Store(url) as s:
        doc = _doc()
        rid = s.add(doc, commit="abc123")
        assert s.document(rid) == doc
        row, = s.results_where({"commit": "abc123"})
        assert (row["kind"], row["subject"], row["device"], row["digest"]) == ("profile", "tiny-vla", "cpu", digest(doc))
        run, = s.runs_of([rid], {})
        assert (run["backend"], run["precision"], run["batch"], run["stage"]) == ("trt", "fp32", 1, "policy_step")
        lat = doc["runs"][0]["latency"]
        assert run["p50_ms"] == lat["p50_ms"] and (run["p99_lo_ms"], run["p99_hi_ms"]) == tuple(lat["ci_ms"]["p99"])
        assert run["accuracy_cosine_min"] == 0.98 and run["accuracy_verdict"] == "FAIL"
        s.add(_doc(created_utc="2026-02-01T00:00:00+00:00"), commit="def456")
        assert [r["commit"] for r in s.results_where({"subject": "tiny-vla"})] == ["abc123", "def456"]
        assert [r["commit"] for r in s.results_where({"since": "2026-01-15"})] == ["def456"]
        assert s.results_where({"backend": "ort-cpu"}) == [] and len(s.results_where({"backend": "trt", "batch": "1"})) == 2
        assert [r["commit"] for r in s.results_where({}, limit=1, newest_first=True)] == ["def456"]


def test_sqlite_round_trip_and_filters(tmp_path):
    _round_trip(to_url(str(tmp_path / "deep" / "r.sqlite")))


def test_postgresql_round_trip_and_filters(postgres_url):
    from sqlalchemy import create_engine, text

    with create_engine(postgres_url).begin() as conn:  # a fresh store each time the test runs
        conn.execute(text("DROP TABLE IF EXISTS runs, results, deployprof_meta"))
    _round_trip(postgres_url)


def test_a_result_is_stored_whole_or_not_at_all(tmp_path):
    url = to_url(str(tmp_path / "r.sqlite"))
    bad = _doc()
    del bad["runs"][0]["latency"]
    with Store(url) as s:
        with pytest.raises(KeyError):
            s.add(bad)
        assert s.results_where({}) == []


def test_migrations_run_in_order_and_a_newer_store_is_refused(tmp_path, monkeypatch):
    url = to_url(str(tmp_path / "r.sqlite"))
    Store(url).close()

    def add_column(conn):
        from sqlalchemy import text
        conn.execute(text("ALTER TABLE results ADD COLUMN note VARCHAR(64)"))

    monkeypatch.setattr(store_mod, "SCHEMA", SCHEMA + 1)
    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, add_column])
    with Store(url) as s, s.engine.connect() as conn:
        from sqlalchemy import text
        assert "note" in [r[1] for r in conn.execute(text("PRAGMA table_info(results)"))]
        assert conn.execute(text("SELECT value FROM deployprof_meta")).scalar() == str(SCHEMA + 1)
    monkeypatch.setattr(store_mod, "SCHEMA", SCHEMA)
    with pytest.raises(StoreError, match=f"has schema {SCHEMA + 1}, newer than this deployprof's {SCHEMA}"):
        Store(url)


def test_an_unreachable_store_is_a_warning_not_a_lost_result(tmp_path):
    said = []
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert record(make_report(), StoreOptions(where=str(blocker / "r.sqlite")), said.append) is None
    assert len(said) == 1 and said[0].startswith("warning: result not stored in sqlite:///")
    said.clear()
    url = "postgresql://me:secret@/nodb?host=/nonexistent&port=1"
    assert record(make_report(), StoreOptions(where=url), said.append) is None
    assert said and "secret" not in said[0] and "***" in said[0]
    assert record(make_report(), StoreOptions(enabled=False), said.append) is None


def test_a_corrupt_store_file_is_one_clear_error(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the results store"):
        Store(to_url(str(path)))


@pytest.mark.parametrize("text,match", [("backend", "key=value"), ("colour=red", "unknown store filter"),
                                        ("sweep=x", "unknown store filter")])
def test_bad_queries_are_named(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_filters(text)


def test_documents_are_stored_as_written(tmp_path):
    doc = _doc()
    with Store(to_url(str(tmp_path / "r.sqlite"))) as s:
        rid = s.add(doc)
        assert json.dumps(s.document(rid), sort_keys=True) == json.dumps(doc, sort_keys=True)


def test_a_store_of_an_older_schema_is_upgraded_by_the_next_stored_result_not_refused_before_it(tmp_path):
    """A user upgrading deployprof runs `profile --store` on their store of the previous schema: the check before the
    work lets it through (it once said "a command that stores a result upgrades it" to exactly such a command)."""
    from sqlalchemy import text

    url = to_url(str(tmp_path / "r.sqlite"))
    with Store(url) as s, s.engine.begin() as conn:   # back to schema 1
        conn.execute(text("ALTER TABLE runs DROP COLUMN mode"))
        conn.execute(text("UPDATE deployprof_meta SET value = '1' WHERE key = 'schema_version'"))
    options = StoreOptions(where=str(tmp_path / "r.sqlite"))
    with pytest.raises(StoreError, match="has schema 1: a command that stores a result upgrades it"):
        Store(url, read_only=True)   # what history and compare (readers only) say
    check_before_work(options)
    assert record(_doc(), options, say=lambda s: None) is not None
    with Store(url, read_only=True) as s:
        assert len(s.results_where({})) == 1
