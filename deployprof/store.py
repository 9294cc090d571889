"""The results store: every profile, bench, train-bench, qualify and sweep result appended as its whole JSON
document plus indexed columns for the usual questions, in SQLite (default, a file in the user's data folder) or
PostgreSQL (a URL), through one SQLAlchemy Core schema. One transaction per result: a result is stored whole or
not at all. Migrations are a numbered list run in order at open (Alembic would bring a script folder and its own
configuration for two append-only tables; the version lives in the store's `deployprof_meta` table)."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from . import __version__
from .config import limit_error
from .errors import ConfigError, DeployprofError
from .environment import capture
from .files import cannot_create, parse_json
from .results import document
from .serial import to_dict

log = logging.getLogger(__name__)

SCHEMA = 2
FILTERS = ("subject", "backend", "precision", "batch", "device", "commit", "kind", "since", "sweep")


class StoreError(DeployprofError):
    """A store that cannot be opened, migrated or read."""


def default_url() -> str:
    """$DEPLOYPROF_STORE, else SQLite in the user's data folder ($XDG_DATA_HOME/deployprof or ~/.local/share)."""
    env = os.environ.get("DEPLOYPROF_STORE")
    if env:
        return env
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "deployprof" / "results.sqlite")


def to_url(where: str) -> str:
    """A URL (`postgresql://...`, `sqlite:///...`) as is; anything else is the path of a SQLite file."""
    if "://" in where:
        return where
    return f"sqlite:///{Path(where).expanduser().resolve()}"


def redact(url: str) -> str:
    """A URL fit for messages: no password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _tables():
    from sqlalchemy import (BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table,
                            Text)

    md = MetaData()
    meta = Table("deployprof_meta", md, Column("key", String(64), primary_key=True), Column("value", String(256)))
    results = Table(
        "results", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_utc", String(40), nullable=False), Column("stored_utc", String(40), nullable=False),
        Column("kind", String(32), nullable=False), Column("subject", String(1024)),
        Column("model_sha256", String(64)), Column("commit", String(128)), Column("device", String(256)),
        Column("target", String(128)), Column("power_mode", String(128)), Column("verdict", String(16)),
        Column("deployprof_version", String(32)), Column("sweep_key", String(64)),
        Column("digest", String(64), nullable=False), Column("document", Text, nullable=False),
        Index("ix_results_query", "subject", "device", "created_utc"), Index("ix_results_sweep", "sweep_key"),
        Index("ix_results_digest", "digest"), Index("ix_results_commit", "commit"))
    runs = Table(
        "runs", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("result_id", Integer, ForeignKey("results.id", ondelete="CASCADE"), nullable=False),
        Column("stage", String(256)), Column("backend", String(64)), Column("precision", String(32)),
        Column("batch", Integer), Column("cuda_graph", Boolean),
        Column("p50_ms", Float), Column("p50_lo_ms", Float), Column("p50_hi_ms", Float),
        Column("p99_ms", Float), Column("p99_lo_ms", Float), Column("p99_hi_ms", Float),
        Column("throughput_per_s", Float), Column("host_peak_rss_bytes", BigInteger),
        Column("device_peak_bytes", BigInteger), Column("accuracy_cosine_min", Float),
        Column("accuracy_rel_l2", Float), Column("accuracy_verdict", String(16)), Column("mode", String(32)),
        Index("ix_runs_result", "result_id"), Index("ix_runs_config", "backend", "precision", "batch"))
    return md, meta, results, runs


def _create_v1(conn) -> None:
    md, *_ = _tables()
    md.create_all(conn)


def _add_mode(conn) -> None:
    """Schema 2: each run's request mode, so that `history` tells --rate and --concurrency runs from back-to-back
    ones. Filled from the stored documents (a run row per document run, in order)."""
    from sqlalchemy import inspect, select

    _, _, results, runs = _tables()
    if "mode" not in {c["name"] for c in inspect(conn).get_columns("runs")}:   # made by schema 1's code
        conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN mode VARCHAR(32)")
    for rid, text in conn.execute(select(results.c.id, results.c.document)):
        ids = conn.execute(select(runs.c.id).where(runs.c.result_id == rid).order_by(runs.c.id)).scalars().all()
        for run_id, run in zip(ids, json.loads(text).get("runs") or ()):
            conn.execute(runs.update().where(runs.c.id == run_id).values(mode=run_mode(run)))


# MIGRATIONS[n] takes a store from schema n to n + 1 inside the opening transaction.
MIGRATIONS: list[Callable[[Any], None]] = [_create_v1, _add_mode]


def canonical(document: dict) -> str:
    """The stored text of a document: sorted keys, no spaces; its digest is the result's identity."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def digest(document: dict, text: Optional[str] = None) -> str:
    """The identity of a result: the same document stored twice has the same digest."""
    return hashlib.sha256((text or canonical(document)).encode()).hexdigest()


def device_name(environment: dict) -> Optional[str]:
    """The board or GPU a result was measured on: the Jetson model, else the first GPU, else the CPU."""
    gpus = environment.get("gpus") or []
    return environment.get("jetson_model") or (gpus[0] if gpus else None) or environment.get("cpu_model")


def _subject(document: dict) -> Optional[str]:
    model = document.get("model") or {}
    return model.get("preset") or model.get("source") or document.get("subject") or document.get("source") \
        or document.get("name")


def _model_sha(document: dict) -> Optional[str]:
    stages = (document.get("model") or {}).get("stage_sha256")
    return hashlib.sha256(json.dumps(stages, sort_keys=True).encode()).hexdigest() if stages else None


def _target(document: dict) -> Optional[str]:
    roofline = document.get("roofline") or []
    return document.get("target") or (roofline[0].get("target") if roofline else None)


def run_mode(run: dict) -> str:
    """How a run's requests came: at a fixed rate (--rate), several at once (--concurrency), or back to back."""
    control = run.get("control") or {}
    if control.get("rate_hz"):
        return f"rate {control['rate_hz']:g} Hz"
    return f"concurrency {run['concurrency']}" if (run.get("concurrency") or 1) > 1 else "back-to-back"


def _run_row(run: dict) -> dict:
    lat, ci = run["latency"], run["latency"].get("ci_ms") or {}
    acc = run.get("accuracy") or {}
    action = acc.get("action") or {}
    mem = run.get("memory") or {}
    p50, p99 = ci.get("p50") or (None, None), ci.get("p99") or (None, None)
    return dict(stage=run["stage"], backend=run["backend"], precision=run["precision"], batch=run["batch"],
                cuda_graph=bool(run.get("cuda_graph")), p50_ms=lat["p50_ms"], p50_lo_ms=p50[0], p50_hi_ms=p50[1],
                p99_ms=lat["p99_ms"], p99_lo_ms=p99[0], p99_hi_ms=p99[1], throughput_per_s=run.get("throughput_per_s"),
                host_peak_rss_bytes=mem.get("host_peak_rss_bytes"), device_peak_bytes=mem.get("device_peak_bytes"),
                accuracy_cosine_min=action.get("cosine_min"), accuracy_rel_l2=action.get("rel_l2"),
                accuracy_verdict=acc.get("verdict"), mode=run_mode(run))


@dataclass(frozen=True)
class StoreOptions:
    """Where results go (--store / DEPLOYPROF_STORE), whether at all (--no-store), and the commit they belong to."""
    where: Optional[str] = None
    enabled: bool = True
    commit: Optional[str] = None

    @property
    def url(self) -> str:
        return to_url(self.where or default_url())


def _sqlite_path(url: str) -> Optional[Path]:
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
    return Path(path) if path not in ("", ":memory:") else None


MIGRATE_TRIES = 8
# what a first use racing another one meets: SQLite's lock or a table the other made first; PostgreSQL's unique index
# on type names (two CREATE TABLE at once) or a duplicate schema row
RACE = re.compile(r"already exists|database is locked|duplicate key|UNIQUE constraint failed", re.I)


class _Raced(Exception):
    pass


class Store:
    """`read_only` (history, a stored baseline): the store must exist already, and nothing is written to it, not
    even its schema or journal mode."""

    def __init__(self, url: str, read_only: bool = False, older_ok: bool = False):
        """read_only: never create or migrate; older_ok: a read-only look that accepts an older schema (the command
        that looks stores a result after its work, which upgrades it)."""
        from sqlalchemy import create_engine, event

        self.url, self.read_only, self.older_ok = url, read_only, older_ok
        path = _sqlite_path(url)
        if path is not None:
            if read_only and not path.is_file():
                raise StoreError(f"no results store at {path}: check --store (a typo?), or store a result there first")
            if not read_only:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(str(cannot_create(path, exc, "--store"))) from None
        try:
            self.engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        except Exception as exc:
            raise StoreError(f"cannot use the results store {redact(url)}: {exc}") from None
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # per connection: NORMAL (no fsync per commit in WAL mode), foreign keys
                cur = conn.cursor()
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        _, self.meta, self.results, self.runs = _tables()
        try:
            for attempt in range(MIGRATE_TRIES):
                try:
                    self._migrate()
                    break
                except _Raced as raced:   # another process created or migrated the store at the same moment
                    if attempt == MIGRATE_TRIES - 1:
                        raise StoreError(f"cannot open the results store {redact(url)}: {raced}; other processes kept "
                                         "changing it") from None
                    time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))
        except BaseException:   # refused: its connections closed now (SQLite's -wal/-shm files go with them)
            self.engine.dispose()
            raise

    def _migrate(self) -> None:
        from sqlalchemy import inspect, select

        try:
            with self.engine.begin() as conn:
                tables = set(inspect(conn).get_table_names())
                ours = "deployprof_meta" in tables
                # a database of another application's: never add tables to it (SQLite: any tables; a shared
                # PostgreSQL database: tables of our names)
                if not ours and (tables if self.url.startswith("sqlite") else tables & {"results", "runs"}):
                    raise StoreError(f"{redact(self.url)} is a database but not a deployprof results store (it holds "
                                     f"{', '.join(sorted(tables)[:5])}); pass another --store")
                if self.read_only and not ours:
                    raise StoreError(f"no results store in {redact(self.url)} yet: store a result there first")
                if not self.read_only:
                    self.meta.create(conn, checkfirst=True)
                value = conn.execute(select(self.meta.c.value).where(self.meta.c.key == "schema_version")).scalar()
                version = int(value or 0)
                if version > SCHEMA:
                    raise StoreError(f"the results store {redact(self.url)} has schema {version}, newer than this "
                                     f"deployprof's {SCHEMA}: upgrade deployprof, or pass another --store")
                # read again: SQLite reads outside a write are each their own snapshot, so a store another process
                # created between the first look and the version read shows its tables only now
                missing = {"results", "runs"} - set(inspect(conn).get_table_names()) if version else set()
                if missing:   # ours, at a version that has them: dropped by hand or a broken copy
                    raise StoreError(f"the results store {redact(self.url)} has lost its {', '.join(sorted(missing))} "
                                     "table(s); it is damaged: restore it from a copy, or pass another --store")
                if self.read_only:
                    if version < SCHEMA and not self.older_ok:
                        raise StoreError(f"the results store {redact(self.url)} has schema {version}: a command that "
                                         "stores a result upgrades it")
                    return
                for step in range(version, SCHEMA):
                    MIGRATIONS[step](conn)
                if version != SCHEMA:
                    table = self.meta
                    conn.execute(table.delete().where(table.c.key == "schema_version"))
                    conn.execute(table.insert().values(key="schema_version", value=str(SCHEMA)))
            if self.url.startswith("sqlite"):
                # WAL (readers never wait for a writer) is written into the file: only once the schema is ours.
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        except StoreError:
            raise
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0]
            if RACE.search(first):   # the transaction rolled back: the next attempt sees what the other one made
                raise _Raced(first) from None
            raise StoreError(f"cannot open the results store {redact(self.url)}: {type(exc).__name__}: {first}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------------------
    def add(self, document: dict, *, environment: Optional[dict] = None, commit: Optional[str] = None,
            sweep_key: Optional[str] = None, verdict: Optional[str] = None) -> int:
        """One result and its runs, in one transaction. `environment`: where it ran, for documents without one
        (bench, qualify); a profile's own environment wins. `verdict`: a spec's verdict on this result."""
        from datetime import datetime, timezone

        env = document.get("environment") or environment or {}
        text = canonical(document)
        row = dict(created_utc=document.get("created_utc") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   stored_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   kind=document.get("kind", "?"), subject=_subject(document), model_sha256=_model_sha(document),
                   commit=commit, device=device_name(env), target=_target(document), power_mode=env.get("power_mode"),
                   verdict=verdict or document.get("status"), deployprof_version=env.get("deployprof_version") or __version__,
                   sweep_key=sweep_key, digest=digest(document, text), document=text)
        with self.engine.begin() as conn:
            rid = int(conn.execute(self.results.insert().values(**row)).inserted_primary_key[0])
            runs = [dict(_run_row(r), result_id=rid) for r in document.get("runs") or ()]
            if runs:
                conn.execute(self.runs.insert(), runs)
        return rid

    # -- reading -------------------------------------------------------------------------------------------
    def _where(self, filters: dict):
        from sqlalchemy import and_, exists

        unknown = sorted(set(filters) - set(FILTERS))
        if unknown:
            raise ConfigError(f"unknown store filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}")
        r, u = self.results, self.runs
        clauses = []
        for key in ("subject", "device", "commit", "kind"):
            if filters.get(key) is not None:
                clauses.append(getattr(r.c, key) == filters[key])
        if filters.get("sweep") is not None:
            clauses.append(r.c.sweep_key.in_(list(filters["sweep"])))
        if filters.get("since") is not None:
            clauses.append(r.c.created_utc >= filters["since"])
        run_clauses = [getattr(u.c, k) == (int(filters[k]) if k == "batch" else filters[k])
                       for k in ("backend", "precision", "batch") if filters.get(k) is not None]
        if run_clauses:
            clauses.append(exists().where(and_(u.c.result_id == r.c.id, *run_clauses)))
        return and_(*clauses) if clauses else None

    def results_where(self, filters: dict, limit: Optional[int] = None, newest_first: bool = False) -> list[dict]:
        """Result rows (without their documents), oldest first."""
        from sqlalchemy import select

        r = self.results
        cols = [c for c in r.c if c.name != "document"]
        q = select(*cols)
        where = self._where(filters)
        if where is not None:
            q = q.where(where)
        order = (r.c.created_utc.desc(), r.c.id.desc()) if newest_first else (r.c.created_utc, r.c.id)
        q = q.order_by(*order)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(m) for m in conn.execute(q).mappings()]

    def runs_of(self, result_ids: Iterable[int], filters: dict) -> list[dict]:
        from sqlalchemy import select

        ids = list(result_ids)
        if not ids:
            return []
        u = self.runs
        q = select(u).where(u.c.result_id.in_(ids))
        for k in ("backend", "precision", "batch"):
            if filters.get(k) is not None:
                q = q.where(getattr(u.c, k) == (int(filters[k]) if k == "batch" else filters[k]))
        with self.engine.connect() as conn:
            rows = [dict(m) for m in conn.execute(q.order_by(u.c.result_id, u.c.id)).mappings()]
        for row in rows:
            self._check_run(row)
        return rows

    def _check_run(self, row: dict) -> None:
        """A stored run's numbers as a report's are checked (LatencyStats.check): the store is a file anyone can
        edit, and history and baselines draw verdicts from it."""
        def bad(col: str, what: str) -> StoreError:
            return StoreError(f"the results store {redact(self.url)}: run {row.get('id')} (result {row.get('result_id')}) "
                              f"holds {col}={row[col]!r}; {what} (was the row edited?)")
        for col in ("p50_ms", "p50_lo_ms", "p50_hi_ms", "p99_ms", "p99_lo_ms", "p99_hi_ms", "throughput_per_s",
                    "host_peak_rss_bytes"):
            v = row.get(col)
            if v is None and col in ("p50_ms", "p99_ms"):   # every stored run has its latency
                raise bad(col, "expected a latency in ms")
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
                raise bad(col, "expected a finite, non-negative number")
        for key in ("p50", "p99"):
            lo, v, hi = row.get(f"{key}_lo_ms"), row.get(f"{key}_ms"), row.get(f"{key}_hi_ms")
            if None not in (lo, v, hi) and not lo <= v <= hi:
                raise bad(f"{key}_ms", f"outside its confidence interval [{lo}, {hi}]")

    def document(self, result_id: int) -> dict:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            text = conn.execute(select(self.results.c.document).where(self.results.c.id == result_id)).scalar()
        if text is None:
            raise StoreError(f"no result {result_id} in {redact(self.url)}")
        return parse_json(text, f"result {result_id} in {redact(self.url)}", StoreError)

    def finished(self, sweep_keys: Iterable[str]) -> dict[str, int]:
        """sweep key -> stored result id, for the keys already done (a sweep's checkpoint)."""
        from sqlalchemy import select

        keys = list(sweep_keys)
        if not keys:
            return {}
        r = self.results
        with self.engine.connect() as conn:
            rows = conn.execute(select(r.c.sweep_key, r.c.id).where(r.c.sweep_key.in_(keys)).order_by(r.c.id))
            return {k: i for k, i in rows}


def parse_filters(text: str) -> dict[str, str]:
    """`key=value,key=value` (the QUERY of `store:QUERY`)."""
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ConfigError(f"store query {text!r}: expected key=value pairs separated by commas "
                              f"(keys: {', '.join(FILTERS)})")
        out[key.strip()] = value.strip()
    unknown = sorted(set(out) - set(FILTERS) | ({"sweep"} & set(out)))
    if unknown:
        raise ConfigError(f"unknown store filter(s) {', '.join(unknown)} in {text!r}; known: "
                          "subject, backend, precision, batch, device, commit, kind, since")
    if "batch" in out:
        value = out["batch"]
        why = limit_error("batch", int(value)) if value.isdigit() and len(value) <= 18 else "expects a positive integer"
        if why:
            raise ConfigError(f"store query {text!r}: batch {why.replace('expects', 'must be')}, got {value!r}")
    return out


def check_before_work(options: StoreOptions) -> None:
    """A --store naming an existing file that is not a deployprof store is refused before the command works, not
    after it (a store that cannot be reached stays a warning at the end: the command's own output comes first)."""
    path = _sqlite_path(options.url) if options.enabled else None
    if path is not None and path.is_file() and path.stat().st_size:
        Store(options.url, read_only=True, older_ok=True).close()


def record(result: Any, options: StoreOptions, say: Callable[[str], None], environment: Optional[dict] = None,
           sweep_key: Optional[str] = None) -> Optional[int]:
    """Append a command's result; a store that cannot be reached is a warning, never a lost report (the command
    wrote its output first)."""
    if not options.enabled:
        return None

    doc = result if isinstance(result, dict) else document(result)
    try:
        env = environment if environment is not None or doc.get("environment") else to_dict(capture())
        with Store(options.url) as store:
            rid = store.add(doc, environment=env, commit=options.commit, sweep_key=sweep_key)
        log.info("stored as result %d in %s", rid, redact(options.url))
        return rid
    except Exception as exc:  # the store is a copy; the command's own output is already written
        say(f"warning: result not stored in {redact(options.url)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return None
