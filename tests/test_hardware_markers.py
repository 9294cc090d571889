"""The hardware guard itself: a failing GPU test must not pass as 'xfailed' (it once did, exit 0)."""
import pytest

from tests import hardware

FAILING_GPU_TEST = """
import pytest

@pytest.mark.gpu
def test_needs_gpu():
    assert False

@pytest.mark.tensorrt
def test_needs_trt():
    assert False
"""


@pytest.fixture
def no_hardware(pytester, monkeypatch):
    monkeypatch.setattr(hardware, "missing", lambda mark: f"no {mark} here")
    for env in hardware.REQUIRE_ENV.values():
        monkeypatch.delenv(env, raising=False)
    pytester.makeconftest("from tests.hardware import pytest_runtest_setup  # noqa: F401\n")
    pytester.makeini("[pytest]\nmarkers =\n    gpu: x\n    tensorrt: x\n")
    pytester.makepyfile(FAILING_GPU_TEST)
    return pytester


def test_missing_hardware_is_a_skip_with_its_reason(no_hardware):
    res = no_hardware.runpytest_inprocess("-rs")
    res.assert_outcomes(skipped=2)
    res.stdout.fnmatch_lines(["*no gpu here*", "*no tensorrt here*"])
    assert res.ret == 0


@pytest.mark.parametrize("env, failed, skipped", [("DEPLOYPROF_REQUIRE_GPU", 1, 1), ("DEPLOYPROF_REQUIRE_TRT", 1, 1)])
def test_required_hardware_that_is_missing_fails_the_run(no_hardware, monkeypatch, env, failed, skipped):
    monkeypatch.setenv(env, "1")
    res = no_hardware.runpytest_inprocess()
    res.assert_outcomes(errors=failed, skipped=skipped)
    res.stdout.fnmatch_lines([f"*{env}=1 but no *"])
    assert res.ret != 0
