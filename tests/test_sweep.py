"""Sweeps: the matrix file checked before anything runs, failures recorded while the sweep goes on, and a sweep
killed half-way resuming from the store without redoing what finished."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from deployprof.errors import ConfigError
from deployprof.sweep import load_sweep, settings_of

from .conftest import invoke

FAST = {"duration": 0.3, "accuracy_samples": 2, "in_process": True}


def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_matrix_expands_with_per_value_options_and_stable_keys(tmp_path):
    s = load_sweep(_write(tmp_path, """
subjects: [tiny-vla, act-tiny]
backends: [ort-cpu, {name: torch, measure: {duration: 0.5, device: cuda:1}}]
precisions: [fp32, fp16]
batches: [1, 2]
measure: {duration: 1, accuracy_samples: 3, threads: 2, layer_profile: false, depth: 3}
"""))
    assert s.name == "s" and len(s.configurations) == 16
    torch_cfg = next(c for c in s.configurations if c.backend == "torch" and c.batch == 2)
    settings = settings_of(torch_cfg)
    config = settings.measure
    assert config.duration_s == 0.5 and config.batches == (2,) and settings.accuracy.samples == 3
    assert (config.layer_profile, config.layer_depth) == (False, 3)
    auto = load_sweep(_write(tmp_path, "subjects: [tiny-vla]\nmeasure: {depth: auto}\n", "auto.yaml"))
    assert settings_of(auto.configurations[0]).measure.layer_depth == 0   # auto
    assert config.backend_options.intra_op_threads == 2
    assert config.backend_options.device == "cuda:1"  # the command line's --device
    again = load_sweep(tmp_path / "s.yaml")
    assert [c.key("s") for c in again.configurations] == [c.key("s") for c in s.configurations]
    assert len({c.key("s") for c in s.configurations}) == 16 and s.configurations[0].key("other") != s.configurations[0].key("s")


@pytest.mark.parametrize("text,match", [
    ("backends: [ort-cpu]", "`subjects` .* is required"),
    ("subjects: tiny-vla", "`subjects` must be a non-empty list"),
    ("subjects: [tiny-vla]\nbatches: [0]", "batches are positive integers"),
    ("subjects: [tiny-vla]\ncolour: red", "unknown key"),
    ("subjects: [tiny-vla]\nmeasure: {duration: fast}", "duration expects a finite number above 0"),
    ("subjects: [tiny-vla]\nmeasure: {warp: 9}", "unknown measure option 'warp'"),
    ("subjects: [tiny-vla]\nmeasure: {layer_profile: 1}", "layer_profile expects true or false"),
    ("subjects: [tiny-vla]\nmeasure: {depth: 0}", "measure option depth"),
    ("subjects: [tiny-vla]\nmeasure: {launcher: thread}", "launcher is one of process, inline"),
    ("subjects: [tiny-vla]\nbackends: [{name: trt, extra: 1}]", "a value or \\{name"),
    ("subjects: [tiny-vla, tiny-vla]", "repeats a configuration"),
    ("subjects: [tiny-vla]\ndevices: [../../outside]", "a device label is letters"),  # it names a folder under --out
    ("[1, 2", "not a readable YAML sweep"),
    ("- a\n- b", "a sweep is a mapping"),
])
def test_bad_sweep_files_are_one_clear_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_sweep(_write(tmp_path, text))


def test_devices_need_ray_and_ray_needs_devices(tmp_path):
    path = _write(tmp_path, "subjects: [tiny-vla]\ndevices: [jetson-agx-orin]\n")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite")])
    assert r.exit_code == 1 and "dispatch it with --ray ADDRESS" in r.output
    path = _write(tmp_path, "subjects: [tiny-vla]\n")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite"),
                "--ray", "127.0.0.1:1"])
    assert r.exit_code == 1 and "list them under `devices:`" in r.output


def test_the_matrix_is_checked_before_any_work(tiny_export, tmp_path):
    """`backends: [ort-gpu]`-like mistakes once exported and ran for 77 s, then exited 0 with every configuration failed."""
    shutil.copytree(tiny_export, tmp_path / "export")
    path = _write(tmp_path, f"subjects: [export]\nbackends: [ort-cpu, ort-cuda]\nmeasure: {json.dumps(FAST)}\n")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite")])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "ort-cuda fp32 b1: backend ort-cuda is unavailable" in r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "r.sqlite").exists()


def test_a_failing_configuration_is_recorded_the_sweep_goes_on_and_exits_nonzero(tiny_export, tmp_path):
    spec = _write(tmp_path, "latency_ms: {p50: 10000}\nmemory: {device_peak_mib: 100}\n", "spec.yaml")
    shutil.copytree(tiny_export, tmp_path / "export")  # a sweep names paths inside its own folder
    path = _write(tmp_path, f"""
subjects: [export]
backends: [ort-cpu, {{name: ort-cpu, measure: {{dim: {{nope: 2}}}}}}]
precisions: [fp16]
measure: {json.dumps(FAST)}
spec: {spec.name}
""")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite"),
                "--json"])
    assert r.exit_code == 1 and "1 of 2 configurations failed" in r.stderr, r.output
    doc = json.loads(r.stdout)
    ok, bad = doc["entries"]
    assert (ok["status"], ok["verdict"], bad["status"]) == ("done", "INCONCLUSIVE", "failed")
    assert "device memory peak: INCONCLUSIVE (no device memory reading" in ok["verdict_reason"]
    assert "--dim nope: no such dimension" in bad["error"]
    report = json.loads((tmp_path / "o" / "runs" / ok["key"] / "report.json").read_text())
    assert {r["precision"] for r in report["runs"]} == {"fp16"}  # an fp16 configuration measures fp16 alone
    html = (tmp_path / "o" / "sweep.html").read_text()
    assert "FAILED" in html and f"href='runs/{ok['key']}/report.html'" in html


def _stored_keys(db):
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return [k for (k,) in conn.execute("SELECT sweep_key FROM results WHERE sweep_key IS NOT NULL")]
    except sqlite3.OperationalError:  # the tables are not there yet
        return []


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_redoing_finished_configurations(tmp_path):
    path = _write(tmp_path, f"""
name: resume
subjects: [tiny-vla]
backends: [ort-cpu]
precisions: [fp32, fp16]
measure: {json.dumps(FAST)}
""")
    db, out = tmp_path / "r.sqlite", tmp_path / "o"
    cmd = [sys.executable, "-m", "deployprof", "sweep", str(path), "--out", str(out), "--store", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while not _stored_keys(db) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        first = _stored_keys(db)
        assert proc.poll() is None and len(first) == 1, proc.stderr.read().decode()[-2000:] if proc.poll() else first
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up of any kind: what a power cut or OOM kill leaves
        proc.wait()
    first = _stored_keys(db)
    t0 = time.monotonic()
    r = invoke(["sweep", str(path), "--out", str(out), "--store", str(db), "--json"])
    assert r.exit_code == 0, r.output
    entries = json.loads(r.stdout)["entries"]
    assert len(entries) == 2 and all(e["status"] in ("done", "reused") for e in entries)
    assert {e["key"] for e in entries if e["status"] == "reused"} == set(first)
    keys = _stored_keys(db)
    assert sorted(keys) == sorted({e["key"] for e in entries}), "a configuration was stored twice"
    assert all(e["p50_ms"] and e["accuracy_rel_l2"] is not None for e in entries)
    print(f"resumed {2 - len(first)} configuration in {time.monotonic() - t0:.1f} s")


def test_the_spec_is_part_of_the_checkpoint_key(tmp_path):
    """A tightened spec once reused the verdict stored under the old one."""
    c = load_sweep(_write(tmp_path, "subjects: [tiny-vla]\n")).configurations[0]
    assert c.key("s", None) == c.key("s")  # sweeps without a spec keep their checkpoints
    assert len({c.key("s"), c.key("s", "a1"), c.key("s", "b2")}) == 3


def test_a_store_that_fails_mid_sweep_still_gives_sweep_json(tiny_export, tmp_path, monkeypatch):
    """A store filling up once ended the sweep in an internal error with no sweep.json for a profiled run."""
    import sqlalchemy.exc

    from deployprof.store import Store

    def full(self, *a, **k):
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(Store, "add", full)
    shutil.copytree(tiny_export, tmp_path / "export")
    path = _write(tmp_path, f"subjects: [export]\nmeasure: {json.dumps(FAST)}\n")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite")])
    assert r.exit_code == 0 and "measured, but not stored" in r.output, r.output
    (entry,) = json.loads((tmp_path / "o" / "sweep.json").read_text())["entries"]
    assert entry["status"] == "done" and entry["result_id"] is None and entry["p50_ms"] > 0


def test_a_precision_the_target_cannot_run_is_refused_before_any_work(tiny_export, tmp_path):
    shutil.copytree(tiny_export, tmp_path / "export")
    path = _write(tmp_path, f"subjects: [export]\nprecisions: [fp8]\ntargets: [jetson-orin-nano-8gb]\n"
                            f"measure: {json.dumps(FAST)}\n")
    r = invoke(["sweep", str(path), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "r.sqlite")])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and "jetson-orin-nano-8gb cannot run fp8" in r.output
    assert not (tmp_path / "o").exists()
