"""The option table (deployprof/options.py) is the one declaration: every option of `profile` that changes a
measurement is accepted by a sweep under the same name, and both build the same configuration."""
import numpy as np
import pytest

from deployprof.cli import cli
from deployprof.config import Settings
from deployprof.errors import DeployprofError
from deployprof.options import BY_NAME, OPTIONS
from deployprof.sweep import load_sweep, settings_of

from .conftest import invoke

# The parameters of `profile` that are not in the table, and why a sweep sets them otherwise or not at all.
NOT_IN_TABLE = {
    "subject": "the sweep's `subjects` axis", "backend_names": "the `backends` axis",
    "precisions": "the `precisions` axis", "target_name": "the `targets` axis",
    "out": "where it is written (a sweep writes OUT/runs/KEY)", "force": "where it is written",
    "store_where": "where it is stored (sweep --store)", "no_store": "a sweep's store is its checkpoint",
    "commit": "what it is stored under (sweep --commit)",
    "skip_unavailable": "a sweep checks every backend before any work and refuses an unusable one",
    "interleave": "times a precision against FP32 beside it; a sweep's configuration measures one precision",
}
# One value other than the default for each option a file can set: (command line, the sweep's `measure:` entries).
EXAMPLES = {
    "iterations": (["--iterations", "7"], "iterations: 7"),
    "duration": (["--duration", "2.5"], "duration: 2.5"),
    "max_duration": (["--max-duration", "4"], "max_duration: 4"),
    "min_duration": (["--min-duration", "2"], "min_duration: 2"),
    "repeats": (["--repeats", "3"], "repeats: 3"),
    "cpus": (["--cpus", "0"], "cpus: [0]"),
    "warmup": (["--warmup", "3"], "warmup: 3"),
    "warmup_time": (["--warmup-time", "0.5"], "warmup_time: 0.5"),
    "dim": (["--dim", "past=4"], "dim: {past: 4}"),
    "shape": (["--shape", "obs=1x3"], "shape: [obs=1x3]"),
    "concurrency": (["--concurrency", "2"], "concurrency: 2"),
    "rate": (["--rate", "50"], "rate: 50"),
    "idle_gaps": (["--rate", "50", "--idle-gaps", "0.5,2"], "rate: 50, idle_gaps: [0.5, 2]"),
    "seed": (["--seed", "5"], "seed: 5"),
    "inputs": (["--inputs", "{folder}/in.npz"], "inputs: in.npz"),
    "threads": (["--threads", "2"], "threads: 2"),
    "inter_threads": (["--inter-threads", "2"], "inter_threads: 2"),
    "spin": (["--spin"], "spin: true"),
    "execution_mode": (["--execution-mode", "parallel"], "execution_mode: parallel"),
    "graph_opt": (["--graph-opt", "basic"], "graph_opt: basic"),
    "provider_option": (["--provider-option", "a=b"], "provider_option: {a: b}"),
    "cuda_graph": (["--cuda-graph", "on"], "cuda_graph: on"),   # YAML 1.1 reads a bare `on` as true
    "cross_check": (["--cross-check", "trtexec"], "cross_check: trtexec"),
    "device": (["--device", "cuda:1"], "device: 'cuda:1'"),
    "allow_fallback": (["--allow-fallback"], "allow_fallback: true"),
    "in_process": (["--in-process"], "in_process: true"),
    "no_telemetry": (["--no-telemetry"], "no_telemetry: true"),
    "layer_profile": (["--no-layer-profile"], "layer_profile: false"),
    "depth": (["--depth", "3"], "depth: 3"),
    "calibration": (["--calibration", "{folder}/in.npz"], "calibration: in.npz"),
    "calibration_method": (["--calibration-method", "entropy"], "calibration_method: entropy"),
    "int4_method": (["--int4-method", "rtn"], "int4_method: rtn"),
    "calibration_samples": (["--calibration-samples", "4"], "calibration_samples: 4"),
    "atol": (["--atol", "0.1,0.2"], "atol: [0.1, 0.2]"),
    "min_cosine": (["--min-cosine", "0.99"], "min_cosine: 0.99"),
    "reference": (["--reference", "torch:fp32"], "reference: 'torch:fp32'"),
    "accuracy_samples": (["--accuracy-samples", "3"], "accuracy_samples: 3"),
    "exporter": (["--exporter", "torchscript"], "exporter: torchscript"),
    "task": (["--task", "pick up the cube"], "task: pick up the cube"),
}


def from_command_line(args: list[str]) -> Settings:
    """What `profile` builds from these arguments (its own parsing, stopped before any work)."""
    ctx = cli.get_command(None, "profile").make_context("profile", ["tiny-vla", "--out", "o", *args])
    return Settings.from_options({k: v for k, v in ctx.params.items() if k in BY_NAME})


def from_sweep(folder, measure: str) -> Settings:
    path = folder / "s.yaml"
    path.write_text(f"subjects: [tiny-vla]\nmeasure: {{{measure}}}\n")
    return settings_of(load_sweep(path).configurations[0])


def test_every_parameter_of_profile_is_in_the_table_or_set_otherwise_by_a_sweep():
    params = {p.name for p in cli.get_command(None, "profile").params}
    table = {o.name for o in OPTIONS}
    assert params - table == set(NOT_IN_TABLE)
    assert table <= params   # profile takes every option of the table
    assert {o.name for o in OPTIONS if not o.file_ok} == {"batch"}   # the `batches` axis


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_sweep_takes_each_option_under_its_name_and_builds_what_profile_builds(name, tmp_path):
    np.savez(tmp_path / "in.npz", obs=np.zeros((1, 3), np.float32))
    args, measure = EXAMPLES[name]
    args = [a.format(folder=tmp_path.resolve()) for a in args]
    cap = [] if {"duration", "iterations", "max_duration"} & {name} else ["--max-duration", "10"]  # a sweep's cap
    swept = from_sweep(tmp_path, measure)
    assert swept == from_command_line(args + cap)
    assert swept != from_sweep(tmp_path, ""), f"{name}: the example changes nothing"


def test_every_option_a_file_can_set_has_an_example():
    assert set(EXAMPLES) == {o.name for o in OPTIONS if o.file_ok}


@pytest.mark.parametrize("old,new", [("launcher: inline", "in_process: true"), ("dims: {past: 4}", "dim: {past: 4}"),
                                     ("provider_options: {a: b}", "provider_option: [a=b]")])
def test_the_old_spellings_still_work_with_a_deprecation_line(old, new, tmp_path):
    assert from_sweep(tmp_path, old) == from_sweep(tmp_path, new)
    (tmp_path / "s.yaml").write_text(f"subjects: [tiny-vla]\nmeasure: {{{old}}}\n")
    r = invoke(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"), "--dry-run"])
    assert r.exit_code == 0 and f"is now `{new.split(':')[0]}`" in r.output and "1 configuration valid" in r.output


@pytest.mark.parametrize("measure,match", [
    ("batch: 2", "batches are its `batches` axis"), ("iterations: 7.5", "iterations expects an integer"),
    ("rate: 0", "above 0"), ("cuda_graph: sometimes", "one of off, on, both"), ("inputs: ../x.npz", "outside"),
    ("dim: [1, 2]", "a mapping of names"), ("spin: 1", "true or false"), ("min_cosine: 2", "at most 1"),
    ("launcher: {a: 1}", "launcher is one of process, inline"),   # an old spelling, checked as strictly
])
def test_a_bad_value_names_the_option_and_what_it_takes(measure, match, tmp_path):
    with pytest.raises(DeployprofError, match=match):
        from_sweep(tmp_path, measure)


def test_docs_architecture_shows_the_table_as_it_is():
    from pathlib import Path

    from deployprof.options import markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md").read_text()
    assert markdown() in doc, "regenerate it: python -m deployprof.options"
