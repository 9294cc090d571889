"""train-bench on the tiny presets: every family trains with its own loss, the metrics are there, options work."""
import json

import pytest

from .conftest import invoke

torch = pytest.importorskip("torch")

from deployprof.errors import ConfigError  # noqa: E402
from deployprof.train import TrainConfig, converged_at, train_bench  # noqa: E402

LOSSES = {"pi0-tiny": "flow matching", "smolvla-tiny": "flow matching", "groot-tiny": "flow matching",
          "octo-tiny": "diffusion", "openvla-tiny": "token cross-entropy", "openvla-oft-tiny": "L1", "act-tiny": "L1"}


@pytest.mark.parametrize("preset", sorted(LOSSES))
def test_every_family_trains_with_its_loss(preset):
    r = train_bench(preset, TrainConfig(steps=6, warmup_steps=2, batch=2, dataset_size=8))
    assert r.loss.startswith(LOSSES[preset]) and len(r.loss_curve) == 6 and all(l == l and l > 0 for l in r.loss_curve)
    assert r.step_time.count == 4 and r.samples_per_s > 0 and r.epoch_s == pytest.approx(8 / r.samples_per_s)
    assert r.train_flops_per_step == 3 * r.forward_flops_per_step > 0 and r.achieved_tflops > 0
    assert r.host_peak_rss_bytes >= r.host_rss_before_bytes > 0 and r.trainable_params == r.params


def test_the_synthetic_task_is_learnable():
    r = train_bench("pi0-tiny", TrainConfig(steps=40, batch=8, dataset_size=32))
    assert sum(r.loss_curve[-5:]) / 5 < 0.8 * sum(r.loss_curve[:3]) / 3


def test_options_freeze_checkpoint_and_mixed_precision():
    base = train_bench("act-tiny", TrainConfig(steps=3, warmup_steps=1, batch=2, dataset_size=4))
    ckpt = train_bench("act-tiny", TrainConfig(steps=3, warmup_steps=1, batch=2, dataset_size=4, grad_checkpointing=True))
    assert ckpt.loss_curve[0] == pytest.approx(base.loss_curve[0], rel=1e-5)  # recomputation changes time, not maths
    frozen = train_bench("act-tiny", TrainConfig(steps=3, warmup_steps=1, batch=2, dataset_size=4, freeze_vision=True))
    assert frozen.frozen_params > 0 and frozen.trainable_params == frozen.params - frozen.frozen_params
    amp = train_bench("act-tiny", TrainConfig(steps=3, warmup_steps=1, batch=2, dataset_size=4, mixed_precision=True,
                                              optimizer="sgd"))
    assert amp.mixed_precision == "bf16" and amp.optimizer == "sgd"


def test_convergence_point():
    assert converged_at([4.0, 4.0, 4.0, 3.0, 1.9, 1.0], [1.0] * 6, 0.5, None) == (6, 6.0, 2.0)
    assert converged_at([4.0, 1.0, 4.0, 4.0], [1.0] * 4, 0.5, None) == (None, None, 2.0)  # one lucky batch is not enough
    assert converged_at([4.0, 3.0, 2.5, 2.0], [0.5] * 4, 0.5, 3.0) == (4, 2.0, 3.0)


def test_bad_settings():
    with pytest.raises(ConfigError, match="--steps"):
        train_bench("act-tiny", TrainConfig(steps=2, warmup_steps=3))
    with pytest.raises(ConfigError, match="--dataset-size"):
        train_bench("act-tiny", TrainConfig(batch=8, dataset_size=4))


def test_cli_writes_the_same_report_formats(tmp_path):
    res = invoke(["train-bench", "octo-tiny", "--out", str(tmp_path), "--steps", "5", "--warmup-steps", "1",
                  "--batch", "2", "--dataset-size", "8", "--target", "cpu"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "report.json").read_text())
    (t,) = rep["training"]
    assert t["mfu_target"] == "cpu" and 0 < t["mfu"] < 1 and len(t["loss_curve"]) == 5
    assert "Training loss per step" in (tmp_path / "report.html").read_text()
    assert "## Training (behaviour cloning" in (tmp_path / "report.md").read_text()
    res = invoke(["report", str(tmp_path)])
    assert res.exit_code == 0
    res = invoke(["train-bench", "no-such-preset", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and res.output.startswith("error:")
