"""The ONNX package's own test models (149: light, pytorch-converted, pytorch-operator, simple) are all counted.
Counting needs no inputs: six of them (string inputs) were once refused with "cannot generate ... pass --inputs"."""
from pathlib import Path

import onnx

from ..conftest import invoke


DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
KINDS = ("light", "pytorch-converted", "pytorch-operator", "simple")


def test_every_onnx_test_model_is_counted():
    models = sorted(p for kind in KINDS for p in (DATA / kind).rglob("*.onnx"))
    assert len(models) >= 140, f"the onnx package's test data moved: {len(models)} models under {DATA}"
    failed = {}
    for model in models:
        r = invoke(["flops", str(model), "--json"])
        if r.exit_code != 0:
            failed[model.parent.name] = (r.output.strip().splitlines() or [repr(r.exception)])[-1][:160]
    assert failed == {}, failed
