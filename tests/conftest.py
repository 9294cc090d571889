import os
from pathlib import Path

import pytest

from deployprof.devices import cuda_device_count

REQUIRE_GPU = os.environ.get("DEPLOYPROF_REQUIRE_GPU") == "1"


def _has_tensorrt() -> bool:
    import importlib.util
    return importlib.util.find_spec("tensorrt") is not None


def _is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists()


def pytest_collection_modifyitems(config, items):
    """Hardware tests skip with a reason; on the GPU box DEPLOYPROF_REQUIRE_GPU=1 makes a skip a failure."""
    have = {"gpu": cuda_device_count() > 0, "tensorrt": _has_tensorrt() and cuda_device_count() > 0, "jetson": _is_jetson()}
    reasons = {"gpu": "no NVIDIA CUDA device", "tensorrt": "TensorRT or a CUDA device missing", "jetson": "not a Jetson"}
    for item in items:
        for mark, ok in have.items():
            if item.get_closest_marker(mark) is not None and not ok:
                if REQUIRE_GPU and mark == "gpu":
                    item.add_marker(pytest.mark.xfail(reason="DEPLOYPROF_REQUIRE_GPU=1 but no GPU", strict=True, run=False))
                else:
                    item.add_marker(pytest.mark.skip(reason=reasons[mark]))


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The tiny preset exported once per session with the default exporter (dynamo, torchscript fallback)."""
    pytest.importorskip("torch")
    from deployprof.export import export_preset

    out = tmp_path_factory.mktemp("tiny-export")
    export_preset("tiny-vla", out)
    return out
