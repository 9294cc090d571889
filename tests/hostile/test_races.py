"""First uses that race: six processes opening one store file that does not exist yet, released together (a sweep's
workers and a Ray fleet do this). Once one in about three such starts lost a result to `table results already
exists`."""
import multiprocessing

from deployprof.store import Store, to_url

WORKERS, TRIALS = 6, 15


def _open_and_store(path, barrier, results) -> None:
    barrier.wait()
    try:
        with Store(to_url(str(path))) as store:
            store.add({"schema_version": 3, "kind": "bench", "subject": "race"})
        results.put("ok")
    except Exception as exc:  # reported to the parent, which shows every failure
        results.put(f"{type(exc).__name__}: {exc}")


def test_six_first_uses_of_a_new_store_all_store_their_result(tmp_path):
    ctx = multiprocessing.get_context("fork")
    failures = []
    for trial in range(TRIALS):
        path = tmp_path / f"s{trial}.sqlite"
        barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_open_and_store, args=(path, barrier, results)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        outcome = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        failures += [f"trial {trial}: {o}" for o in outcome if o != "ok"]
        with Store(to_url(str(path)), read_only=True) as store:
            assert len(store.results_where({})) == WORKERS - len([o for o in outcome if o != "ok"])
    assert failures == []
