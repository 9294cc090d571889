"""What the results store holds about one policy over commits, dates and devices: a table, an HTML trend (p50 and
p99 with their confidence intervals, accuracy), and the stored baseline `compare --baseline store:QUERY` uses."""
from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Optional

from .errors import ConfigError
from .results import History, HistoryRow, ProfileReport, document, main_stage_of, report_from_data
from .store import Store, StoreOptions, device_name, digest, redact
from .files import write_text_atomic
from .report import svg
from .report.sections import history_table
from .serial import to_dict
from .report.html import page, table_html


def _pair(lo: Optional[float], hi: Optional[float]) -> Optional[tuple[float, float]]:
    return (lo, hi) if lo is not None and hi is not None else None


def history(options: StoreOptions, filters: dict[str, str], limit: Optional[int] = None) -> History:
    """Stored runs of each result's main stage matching the filters, oldest first (the newest `limit` results)."""
    with Store(options.url, read_only=True) as store:
        results = store.results_where(filters, limit=limit, newest_first=True)[::-1]
        by_id = {r["id"]: r for r in results}
        runs = store.runs_of(by_id, filters)
        if filters and not runs:   # a typo in a filter is not an empty history: say what the store holds
            held = sorted({r["subject"] for r in store.results_where({}, limit=1000, newest_first=True) if r["subject"]})
            raise ConfigError(f"no stored run matches {', '.join(f'{k}={v}' for k, v in filters.items())} in "
                              f"{redact(options.url)}; its subjects: {', '.join(held[:8]) or 'none yet'}"
                              + (f" and {len(held) - 8} more" if len(held) > 8 else ""))
    stages: dict[int, list] = defaultdict(list)
    for run in runs:
        stages[run["result_id"]].append(run["stage"])
    rows = []
    for run in runs:
        if run["stage"] != main_stage_of(stages[run["result_id"]]):
            continue
        res = by_id[run["result_id"]]
        rows.append(HistoryRow(
            result_id=res["id"], created_utc=res["created_utc"], commit=res["commit"], subject=res["subject"],
            device=res["device"], kind=res["kind"], stage=run["stage"], backend=run["backend"],
            precision=run["precision"], batch=run["batch"], cuda_graph=bool(run["cuda_graph"]), mode=run["mode"],
            p50_ms=run["p50_ms"],
            p50_ci_ms=_pair(run["p50_lo_ms"], run["p50_hi_ms"]), p99_ms=run["p99_ms"],
            p99_ci_ms=_pair(run["p99_lo_ms"], run["p99_hi_ms"]), throughput_per_s=run["throughput_per_s"],
            accuracy_cosine_min=run["accuracy_cosine_min"], accuracy_verdict=run["accuracy_verdict"]))
    rows.sort(key=lambda r: (r.created_utc, r.result_id))
    return History(redact(options.url), {k: str(v) for k, v in filters.items()}, tuple(rows))


def series_key(r: HistoryRow) -> str:
    graph = " graph" if r.cuda_graph else ""
    return f"{r.subject} · {r.device} · {r.backend}{graph} {r.precision} b{r.batch} · {r.mode} · {r.stage}"


def render_history_html(h: History) -> str:
    """One pair of charts per series (same policy, device, backend, precision, batch, request mode): p50/p99 with
    CI bands along the stored results in time order, and the accuracy (worst-sample cosine) when measured."""
    groups: dict[str, list[HistoryRow]] = defaultdict(list)
    for r in h.rows:
        groups[series_key(r)].append(r)
    body = []
    for key, rows in groups.items():
        xs = list(range(1, len(rows) + 1))
        bands = {name: ([ci[0] if ci else v for ci, v in pts], [ci[1] if ci else v for ci, v in pts])
                 for name, pts in (("p50", [(r.p50_ci_ms, r.p50_ms) for r in rows]),
                                   ("p99", [(r.p99_ci_ms, r.p99_ms) for r in rows]))}
        labels = ", ".join(f"{i}: {r.commit or r.created_utc[:16]}" for i, r in zip(xs, rows))
        ticks = {x: (r.commit or "")[:8] or r.created_utc[5:16].replace("T", " ") for x, r in zip(xs, rows)}
        plots = [svg.line_chart(f"Latency, {len(rows)} stored results", [("p50", xs, [r.p50_ms for r in rows]),
                                                                        ("p99", xs, [r.p99_ms for r in rows])],
                                "commit, else date (UTC), oldest first", "ms", markers=True, bands=bands,
                                xlabels=ticks)]
        acc = [(x, r.accuracy_cosine_min) for x, r in zip(xs, rows) if r.accuracy_cosine_min is not None]
        if acc:
            plots.append(svg.line_chart("Accuracy: worst-sample cosine vs the reference",
                                        [("cosine min", [a for a, _ in acc], [c for _, c in acc])],
                                        "commit, else date (UTC), oldest first", "cosine", markers=True, xlabels=ticks))
        body += [f"<h2>{escape(key)}</h2>", f"<p class='meta'>{escape(labels)}</p>", "<div class='grid'>", *plots, "</div>"]
    body.append(table_html(history_table(h)))
    filters = ", ".join(f"{k}={v}" for k, v in h.filters.items()) or "no filters"
    return page("deployprof history", f"{h.store} · {filters} · {len(h.rows)} runs", body)


def write_history_html(h: History, path: Path) -> Path:
    write_text_atomic(Path(path), render_history_html(h))
    return Path(path)


HISTORY_RUNS = 10   # stored runs of a configuration whose spread is the store gate's noise floor (the newest)


def stored_baseline(filters: dict[str, str], run: ProfileReport, options: StoreOptions,
                    fields: tuple[str, ...] = ("stage", "backend", "cuda_graph", "precision", "batch")
                    ) -> tuple[ProfileReport, str, dict[tuple, dict[str, list[float]]]]:
    """The newest stored profile matching the filters (parse_filters of QUERY) that is not RUN itself, and the
    history of each configuration: the p50 and p99 of the newest HISTORY_RUNS matching stored profiles (not RUN),
    keyed by `fields` as compare lines runs up. Unless the filters say otherwise, of the same policy (preset or
    source) on the same device as RUN."""
    filters = dict(filters)
    if "kind" in filters and filters["kind"] != "profile":
        raise ConfigError("compare --baseline compares profile reports: drop kind= from the query")
    filters["kind"] = "profile"
    filters.setdefault("subject", run.model.preset or run.model.source)
    device = device_name(to_dict(run.environment))
    if device:
        filters.setdefault("device", device)
    own = digest(document(run))
    with Store(options.url, read_only=True) as store:
        rows = [row for row in store.results_where(filters, newest_first=True) if row["digest"] != own]
        if rows:
            row = rows[0]
            label = f"store result {row['id']} ({row['commit'] or 'no commit'}, {row['created_utc']})"
            recent = {r["id"]: r for r in rows[:HISTORY_RUNS]}
            series: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
            for r in store.runs_of(recent, {k: v for k, v in filters.items() if k in ("backend", "precision", "batch")}):
                r = {**r, "cuda_graph": bool(r["cuda_graph"])}
                for metric in ("p50", "p99"):
                    if r[f"{metric}_ms"]:
                        series[tuple(r[f] for f in fields)][metric].append(r[f"{metric}_ms"])
            if len(recent) > 1:
                label += f", with the spread of {len(recent)} stored runs (results {min(recent)}-{max(recent)})"
            return report_from_data(store.document(row["id"]), label), label, {k: dict(v) for k, v in series.items()}
    shown = ", ".join(f"{k}={v}" for k, v in filters.items())
    raise ConfigError(f"no stored profile matches {shown} in {redact(options.url)} (other than this run): "
                      "profile a baseline first, or widen the query")
