"""The results store and sweeps: foreign, newer or corrupt stores and bad queries."""
from __future__ import annotations

import json
import sqlite3

from .sandbox import Case, Sandbox


def newer_store(sb: Sandbox) -> list[str]:
    import sqlite3

    path = sb.inp / "future.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE deployprof_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))")
        conn.execute("INSERT INTO deployprof_meta VALUES ('schema_version', '99')")
    return ["history", "--store", str(path)]


def baseline_bad_query(sb: Sandbox) -> list[str]:
    report = sb.write("report.json", json.dumps({"schema_version": 2, "kind": "profile"}))
    return ["compare", "--baseline", "store:colour=red", str(report), "--store", str(sb.out / "r.sqlite")]


def _stored(command):
    """A real store (one profile result) that `command(sb, store)` is then run on."""
    return lambda sb: command(sb, sb.stored())


def _store_edited(sql: str, command: str = "history"):
    """A real store, edited with `sql`, then read by `history` (with --html)."""
    def run(sb: Sandbox, store) -> list[str]:
        with sqlite3.connect(store) as conn:
            conn.executescript(sql)
        conn.close()
        return ["history", "--store", str(store), *(["--html", str(sb.out / "h.html")] if command == "html" else [])]
    return _stored(run)

CASES: list[Case] = [
    Case("store-corrupt-file", "`history --store FILE` on a file that is not a database is one error line",
         lambda sb: ["history", "--store", str(sb.write("junk.sqlite", b"not a database " * 200))],
         message="cannot open the results store"),
    Case("store-newer-schema", "a store written by a newer deployprof is refused, not altered",
         newer_store, message="newer than this deployprof"),
    Case("store-unwritable", "a result whose store cannot be written is still printed (a warning, exit 0)",
         lambda sb: ["bench", str(sb.matmul()), "--iterations", "5", "--json",
                     "--store", str(sb.write("f.txt", "x") / "r.sqlite")], code=0, message='"kind": "bench"'),
    Case("baseline-bad-query", "`compare --baseline store:colour=red` names the known filters",
         baseline_bad_query, message="unknown store filter"),
    Case("sweep-bad-batch", "a sweep file with `batches: [-1]` is one error line before anything runs",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\nbatches: [-1]\n")), "--out",
                     str(sb.out / "s")], message="batches are positive integers"),
    Case("sweep-subject-outside", "a sweep subject outside the sweep file's folder is refused before anything runs",
         lambda sb: ["sweep", str(sb.write("s.yaml", f"subjects: [{sb.victim}]\n")), "--out", str(sb.out / "s")],
         message="outside"),
    Case("sweep-spec-outside", "a sweep spec outside the sweep file's folder is refused",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla]\nspec: ../victim/spec.yaml\n")), "--out",
                     str(sb.out / "s")], message="outside"),
    Case("sweep-not-yaml", "a sweep file that is not YAML is one error line",
         lambda sb: ["sweep", str(sb.write("s.yaml", "subjects: [tiny-vla\n")), "--out", str(sb.out / "s")],
         message="not a readable YAML sweep"),
    Case("store-without-its-tables", "a store whose results and runs tables were dropped is one line saying it is "
         "damaged (once an internal error)", _store_edited("DROP TABLE runs; DROP TABLE results;"), message="lost its"),
    Case("history-html-null-p50", "`history --html` on a row whose p50 is NULL is one line naming the row",
         _store_edited("UPDATE runs SET p50_ms = NULL;", "html"), message="p50_ms=None"),
    Case("history-batch-1e20", "`history --batch 10^20` is a usage error (once an OverflowError)",
         _stored(lambda sb, store: ["history", "--store", str(store), "--batch", "1" + "0" * 20]), code=2),
    Case("history-limit-1e20", "`history --limit 10^20` is a usage error",
         _stored(lambda sb, store: ["history", "--store", str(store), "--limit", "1" + "0" * 20]), code=2),
    Case("baseline-batch-abc", "`--baseline store:batch=abc` is one line naming the value",
         _stored(lambda sb, store: ["compare", str(sb.report()), "--baseline", "store:batch=abc", "--store", str(store)]),
         message="batch must be a positive integer"),
    Case("baseline-batch-1e20", "`--baseline store:batch=10^20` is one line (once an OverflowError)",
         _stored(lambda sb, store: ["compare", str(sb.report()), "--baseline", "store:batch=1" + "0" * 20, "--store",
                                    str(store)]), message="batch must be a positive integer"),
    Case("history-subject-nosuch", "`history --subject nosuch` says no stored run matches and names the subjects held "
         "(once an empty table and exit 0)", _stored(lambda sb, store: ["history", "--store", str(store), "--subject",
                                                                         "nosuch"]),
         message="no stored run matches subject=nosuch .* its subjects: "),
]
