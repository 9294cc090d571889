"""Small LeRobot checkpoints with random weights, saved as LeRobot saves them (`save_pretrained` of the policy and
of its pre/post processors, with dataset statistics): what a user's `pretrained_model` folder holds. Run in the
LeRobot environment (scripts/test.sh builds it):

    python -m tests.lerobot.checkpoints OUT KIND...   # KIND: act, diffusion (DDPM), diffusion-ddim, smolvla, vqbet
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from lerobot.configs.types import FeatureType, PolicyFeature  # noqa: E402
from lerobot.policies.factory import get_policy_class, make_pre_post_processors  # noqa: E402

STATE, ACTION, CAMERA = 6, 6, "observation.images.top"


def _features(image: int):
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(STATE,)),
              CAMERA: PolicyFeature(type=FeatureType.VISUAL, shape=(3, image, image))}
    return inputs, {"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION,))}


def _stats(image: int) -> dict:
    g = torch.Generator().manual_seed(1)

    def vec(n, scale=1.0):
        return torch.randn(n, generator=g) * scale

    return {"observation.state": {"mean": vec(STATE), "std": vec(STATE).abs() + 0.5,
                                  "min": -2 - vec(STATE).abs(), "max": 2 + vec(STATE).abs()},
            "action": {"mean": vec(ACTION), "std": vec(ACTION).abs() + 0.5,
                       "min": -3 - vec(ACTION).abs(), "max": 3 + vec(ACTION).abs()},
            CAMERA: {"mean": torch.rand(3, 1, 1, generator=g), "std": torch.rand(3, 1, 1, generator=g) + 0.1,
                     "min": torch.zeros(3, 1, 1), "max": torch.ones(3, 1, 1)}}


def config(kind: str, vlm: Path = Path()):
    """A small config of the kind; `vlm`: the SmolVLM folder a smolvla checkpoint names."""
    if kind == "act":
        from lerobot.policies.act.configuration_act import ACTConfig

        inputs, outputs = _features(64)
        return ACTConfig(input_features=inputs, output_features=outputs, pretrained_backbone_weights=None,
                         dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1, n_decoder_layers=1,
                         n_vae_encoder_layers=1, latent_dim=8, chunk_size=10, n_action_steps=10, device="cpu"), 64
    if kind in ("diffusion", "diffusion-ddim"):
        from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

        inputs, outputs = _features(64)
        ddim = {"noise_scheduler_type": "DDIM", "num_inference_steps": 5, "prediction_type": "sample"} \
            if kind == "diffusion-ddim" else {}
        return DiffusionConfig(input_features=inputs, output_features=outputs, pretrained_backbone_weights=None,
                               crop_shape=None, use_group_norm=True, down_dims=(32, 64), kernel_size=3, n_groups=8,
                               diffusion_step_embed_dim=32, spatial_softmax_num_keypoints=8, horizon=16,
                               n_action_steps=8, num_train_timesteps=20, device="cpu", **ddim), 64
    if kind == "smolvla":
        from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

        inputs, outputs = _features(64)
        return SmolVLAConfig(input_features=inputs, output_features=outputs, vlm_model_name=str(vlm),
                             load_vlm_weights=False, resize_imgs_with_padding=(32, 32), chunk_size=8, n_action_steps=8,
                             num_steps=3, num_vlm_layers=2, tokenizer_max_length=12, max_state_dim=8, max_action_dim=8,
                             device="cpu"), 64
    if kind == "vqbet":   # a type the export refuses (its head samples with torch.multinomial)
        from lerobot.policies.vqbet.configuration_vqbet import VQBeTConfig

        inputs, outputs = _features(64)
        return VQBeTConfig(input_features=inputs, output_features=outputs, pretrained_backbone_weights=None,
                           crop_shape=None, gpt_n_layer=1, gpt_n_head=2, gpt_hidden_dim=32, gpt_input_dim=32,
                           gpt_output_dim=32, device="cpu"), 64
    raise SystemExit(f"unknown policy type {kind!r}")


def tiny_smolvlm(out: Path) -> Path:
    """A SmolVLM config, processor and word-level tokenizer saved to a folder: what SmolVLA's constructor reads from
    the hub by default (even with load_vlm_weights=False); 2 text layers of width 64, a 1-layer ViT on 32x32."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (PreTrainedTokenizerFast, SmolVLMConfig, SmolVLMImageProcessor, SmolVLMProcessor,
                              SmolVLMVideoProcessor)

    special = ["<|endoftext|>", "<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>", "<unk>"]
    vocab = {t: i for i, t in enumerate(special + [f"w{i}" for i in range(100)] + "pick up the red cube".split())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<|endoftext|>", eos_token="<end_of_utterance>",
        extra_special_tokens={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                              "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
    SmolVLMConfig(vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                     image_size=32, patch_size=8),
                  text_config=dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=len(vocab),
                                   max_position_embeddings=512),
                  scale_factor=2, image_token_id=vocab["<image>"], vocab_size=len(vocab)).save_pretrained(out)
    image = SmolVLMImageProcessor(size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
                                  do_image_splitting=False)
    SmolVLMProcessor(image_processor=image, tokenizer=tokenizer, video_processor=SmolVLMVideoProcessor(),
                     image_seq_len=4).save_pretrained(out)
    return out


def make(kind: str, out: Path) -> Path:
    cfg, image = config(kind, tiny_smolvlm(out / "smolvlm") if kind == "smolvla" else Path())
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):   # LeRobot prints parameter counts
        policy = get_policy_class(cfg.type)(cfg)
    pre, post = make_pre_post_processors(cfg, dataset_stats=_stats(image))
    folder = out / kind
    for thing in (policy, pre, post):
        thing.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    for kind in sys.argv[2:]:
        print(make(kind, Path(sys.argv[1])))
