"""What each precision's weights take: the memory model flops, predict and qualify share."""
import pytest

from deployprof.precision_names import INT4_BLOCK, PRECISIONS, base_precision, refusal, weight_bytes


def test_weight_bytes_per_precision():
    n = 1_000_000
    assert [weight_bytes(p, n) for p in ("fp32", "fp16", "bf16", "fp8", "int8")] == [4 * n, 2 * n, 2 * n, n, n]
    # int4: the multiplied weights at 4 bits plus an FP16 scale per block, the others at FP16
    assert weight_bytes("int4", n, n) == n // 2 + n * 2 // INT4_BLOCK
    assert weight_bytes("int4", n, 0) == 2 * n
    assert weight_bytes("int4-mixed", n, n // 2) == round(n / 2 * (0.5 + 2 / INT4_BLOCK) + n / 2 * 2)


def test_names():
    assert {"bf16", "fp8", "int4", "fp8-mixed", "int4-mixed", "bf16-mixed"} <= set(PRECISIONS)
    assert base_precision("int4-mixed") == "int4" and refusal("int4") is None
    assert "Model Optimizer" in refusal("nvfp4") and "unknown precision 'fp5'" in refusal("fp5")


@pytest.mark.parametrize("text", ["fp32,nvfp4", "fp5"])
def test_the_option_refuses_in_one_line(text):
    from deployprof.config import parse_precisions
    from deployprof.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_precisions(text)
    assert "\n" not in str(e.value) and str(e.value).startswith("--precisions")
