"""Hardware markers. Missing hardware is a skip with a reason; on the machine that has it, DEPLOYPROF_REQUIRE_GPU=1
(DEPLOYPROF_REQUIRE_TRT=1, DEPLOYPROF_REQUIRE_JETSON=1) makes that skip a failure, so a hardware run cannot pass by
skipping everything. Checked before fixtures are set up, so a skipped test costs nothing."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

import pytest

REQUIRE_ENV = {"gpu": "DEPLOYPROF_REQUIRE_GPU", "tensorrt": "DEPLOYPROF_REQUIRE_TRT", "jetson": "DEPLOYPROF_REQUIRE_JETSON"}


@functools.lru_cache(maxsize=None)
def missing(mark: str) -> Optional[str]:
    """Why this machine cannot run tests carrying `mark`, or None."""
    from deployprof.devices import cuda_device_count

    if mark in ("gpu", "tensorrt") and cuda_device_count() == 0:
        return "no NVIDIA CUDA device"
    if mark == "tensorrt":
        from deployprof.engine.api import tensorrt_problem

        if tensorrt_problem():
            return f"TensorRT is not usable here: {tensorrt_problem()}"
    if mark == "jetson" and not Path("/etc/nv_tegra_release").exists():
        return "not an NVIDIA Jetson"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark, env in REQUIRE_ENV.items():
        if item.get_closest_marker(mark) is None:
            continue
        reason = missing(mark)
        if reason is None:
            continue
        if os.environ.get(env) == "1":
            pytest.fail(f"{env}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
