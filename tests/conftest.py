import os
import shutil
import tempfile

import pytest

pytest_plugins = ["tests.hardware", "tests.postgres", "pytester"]

# Results made by the suite (and by commands it runs in subprocesses) go to a store of its own, never the user's.
os.environ["DEPLOYPROF_STORE"] = os.path.join(tempfile.mkdtemp(prefix="deployprof-test-store-"), "results.sqlite")
# ... and caches of its own (preset exports, CPU ceilings, precision-debug evaluations): never the user's, shared by
# the xdist workers (they inherit the first process's environment) and removed by the process that made them.
_OWNS_CACHE = "DEPLOYPROF_TEST_CACHE" not in os.environ
if _OWNS_CACHE:
    os.environ["DEPLOYPROF_TEST_CACHE"] = tempfile.mkdtemp(prefix="deployprof-test-cache-")
os.environ["DEPLOYPROF_CACHE"] = os.environ["DEPLOYPROF_TEST_CACHE"]


def pytest_unconfigure(config):
    if _OWNS_CACHE:
        shutil.rmtree(os.environ["DEPLOYPROF_TEST_CACHE"], ignore_errors=True)


# The shortest measurement a test of the plumbing needs (bench, profile): a handful of iterations in this process.
FAST = ("--iterations", "5", "--warmup", "1", "--warmup-time", "0", "--in-process")


def invoke(*args, **kwargs):
    """deployprof's command line in this process (click's runner): invoke("bench", path, *FAST) or invoke([...]);
    every argument as a string; an exception the CLI did not turn into an exit code is raised, not kept."""
    from click.testing import CliRunner

    from deployprof.cli import cli

    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    kwargs.setdefault("catch_exceptions", False)
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def _export(tmp_path_factory, preset: str, folder: str):
    pytest.importorskip("torch")
    from deployprof.export import export_preset

    out = tmp_path_factory.mktemp(folder)
    export_preset(preset, out, cached=True)
    return out


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The tiny preset exported once per session with the default exporter (dynamo, torchscript fallback)."""
    return _export(tmp_path_factory, "tiny-vla", "tiny-export")


@pytest.fixture(scope="session")
def openvla_tiny_export(tmp_path_factory):
    """openvla-tiny: a decode stage counted at every KV length of a policy step (its cache grows)."""
    return _export(tmp_path_factory, "openvla-tiny", "openvla-tiny")


@pytest.fixture(autouse=True)
def _documents_follow_the_schema(monkeypatch):
    """Every report.json and --json document made during a test is checked against docs/schema.json, in JSON form."""
    import json

    from deployprof import results

    from .schema import validate

    real = results.document

    def checked(obj):
        doc = real(obj)
        validate(json.loads(json.dumps(doc)))
        return doc

    monkeypatch.setattr(results, "document", checked)


@pytest.fixture(autouse=True)
def _no_backend_left_open():
    """A backend loaded and never closed is a leak: every test must leave none open in this process."""
    from deployprof.backends.base import _OPEN, open_backends

    yield
    leaked = open_backends()
    for b in list(_OPEN):
        b.close()
    assert not leaked, f"backends left open: {leaked}"


@pytest.fixture(autouse=True)
def _loud_terminal():
    """`-q` sets a global of the process (report.terminal.QUIET): a test that ran the CLI with it must not silence
    the tables of the next test run in the same process (under pytest-xdist, any test)."""
    yield
    import sys

    terminal = sys.modules.get("deployprof.report.terminal")
    if terminal is not None:
        terminal.QUIET = False


# The longest files first (measured with --durations; docs/BENCHMARKS.md): scripts/test.sh gives whole files to two
# xdist workers in collection order, and a long file collected last once ran alone for minutes at the end.
LONGEST_FIRST = ("tests/test_readme.py", "tests/test_lerobot.py", "tests/hostile/test_hostile.py", "tests/test_zoo.py",
                 "tests/test_cli_defaults.py", "tests/test_cli.py", "tests/test_fleet.py", "tests/test_sweep.py")


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))   # stable: the rest keep their order


def sampled(name: str, population: list[str], k: int) -> bool:
    """Whether `name` is among today's k of an expensive end-to-end population: every member runs within
    ceil(len/k) days, the same ones all day (a failure reproduces); DEPLOYPROF_FULL_SUITE=1 runs them all."""
    import datetime

    if os.environ.get("DEPLOYPROF_FULL_SUITE") == "1" or name not in population:
        return True
    start = (datetime.date.today().toordinal() * k) % len(population)
    return name in [population[(start + i) % len(population)] for i in range(k)]
