import pytest

pytest_plugins = ["tests.hardware", "pytester"]


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The tiny preset exported once per session with the default exporter (dynamo, torchscript fallback)."""
    pytest.importorskip("torch")
    from deployprof.export import export_preset

    out = tmp_path_factory.mktemp("tiny-export")
    export_preset("tiny-vla", out)
    return out
