import dataclasses
import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPModel, CLIPProcessor

from clipcreate_lib import config, paths
from clipcreate_lib.config import MiniatureConfig
from clipcreate_lib.data.wikiart import WIKIART_STYLES, style_text
from clipcreate_lib.ddpo import policy
from clipcreate_lib.models import clip_space, loaders, miniature, miniature_training, text_encoding, tokenizers

SMALL = MiniatureConfig(
    image_size=16,
    train_per_style=2,
    held_out_per_style=1,
    clip_width=32,
    clip_heads=2,
    clip_projection_dim=16,
    clip_vision_layers=1,
    clip_text_layers=1,
    clip_patch_size=4,
    clip_steps=3,
    clip_batch_size=8,
    unet_channels=[16, 32],
    unet_attention_head_dim=8,
    unet_norm_groups=8,
    diffusion_steps=3,
    diffusion_batch_size=4,
    check_steps=2,
)


@pytest.fixture(scope="module")
def split():
    return miniature_training.embedded_split(SMALL)


@pytest.fixture(scope="module")
def trained_clip(split):
    model, processor, _ = miniature_training.train_clip(SMALL, split[0], progress=False)
    return model, processor


def test_split_holds_out_the_last_images_of_every_style(split):
    train, held_out = split
    assert train.images.shape == (27 * 2, 3, 16, 16) and held_out.images.shape == (27, 3, 16, 16)
    assert torch.equal(torch.bincount(train.labels), torch.full((27,), 2))
    assert held_out.labels.tolist() == list(range(27))
    assert len(train.captions) == 54 and len(held_out.captions) == 27


def test_styled_captions_name_the_style_in_words_the_tokenizer_knows():
    tokenizer = tokenizers.build_tiny_tokenizer()
    caption = miniature_training.styled_caption("a painting of a red man on dots", WIKIART_STYLES.index("Ukiyo_e"))
    assert caption == "a painting of a red man on dots, in the style of Ukiyo e"
    vocab = tokenizer.get_vocab()
    for name in WIKIART_STYLES:  # every style word is one whole-word token, none unknown
        words = style_text(name).lower().split()
        assert tokenizer.tokenize(style_text(name)) == [w + "</w>" for w in words]
        assert all(w + "</w>" in vocab for w in words)


def test_multi_positive_loss_matches_the_hand_derived_value():
    # Texts a, a, b: images 0 and 1 both match texts 0 and 1. Logits are log P, so every softmax is a ratio of P.
    p = torch.tensor([[1.0, 1.0, 2.0], [1.0, 2.0, 1.0], [1.0, 1.0, 2.0]])
    loss = miniature_training.multi_positive_clip_loss(p.log(), ["a", "a", "b"])
    # image -> text rows: targets (1/2, 1/2, 0), (1/2, 1/2, 0), (0, 0, 1)
    image_to_text = (math.log(4) + 0.5 * math.log(4) + 0.5 * math.log(2) + math.log(2)) / 3
    # text -> image rows are P's columns (1, 1, 1), (1, 2, 1), (2, 1, 2) with the same targets
    text_to_image = (math.log(3) + 0.5 * math.log(4) + 0.5 * math.log(2) + math.log(5 / 2)) / 3
    assert loss.item() == pytest.approx(0.5 * (image_to_text + text_to_image), abs=1e-6)


def test_distinct_texts_give_clips_one_hot_loss():
    logits = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    expected = 0.5 * (
        torch.nn.functional.cross_entropy(logits, torch.arange(4))
        + torch.nn.functional.cross_entropy(logits.T, torch.arange(4))
    )
    assert miniature_training.multi_positive_clip_loss(logits, list("abcd")).item() == pytest.approx(expected.item())


def test_clip_starts_at_the_configured_logit_scale():
    for scale in (100.0, 14.0):
        model, _ = miniature_training.new_clip(dataclasses.replace(SMALL, clip_logit_scale=scale))
        assert model.logit_scale.exp().item() == pytest.approx(scale)


def test_clip_loss_decreases_on_a_fixed_batch(split):
    model, processor = miniature_training.new_clip(SMALL)
    train = split[0]
    texts = miniature_training.clip_texts(train, np.random.default_rng(0), SMALL.clip_style_text_rate)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = miniature_training.clip_batch_loss(model, processor, train.images, texts)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_trained_clip_is_deterministic_and_embeds_at_its_width(split, trained_clip):
    model, processor = trained_clip
    again, _, losses = miniature_training.train_clip(SMALL, split[0], progress=False)
    assert len(losses) == SMALL.clip_steps and all(math.isfinite(x) for x in losses)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    embeddings = clip_space.image_embeddings(split[1].images, model, processor)
    assert embeddings.shape == (27, SMALL.clip_projection_dim)
    assert 0.0 <= miniature.zero_shot_accuracy(split[1], model, processor) <= 1.0
    assert -1.0 <= miniature.kmeans_ari(split[1], model, processor, seed=0) <= 1.0


def test_pixel_autoencoder_maps_pixels_to_latents_and_back():
    vae = miniature_training.pixel_autoencoder()
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    latents = vae.encode(pixels).latents * vae.config.scaling_factor
    assert torch.allclose(latents, pixels, atol=1e-6)  # the diffusion model works on pixels in [-1, 1]
    assert torch.allclose(vae.decode(latents / vae.config.scaling_factor).sample, pixels, atol=1e-4)


def test_diffusion_loss_decreases_on_a_fixed_batch(split, trained_clip):
    pipe = miniature_training.new_pipeline(SMALL, *trained_clip)
    x0 = split[0].images[:4] * 2 - 1
    states = text_encoding.encode_prompts(pipe, split[0].captions[:4])
    optimiser = torch.optim.AdamW(pipe.unet.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):  # the same noise and timesteps every step
        loss = miniature_training.v_prediction_loss(
            pipe.unet, pipe.scheduler, x0, states, torch.Generator().manual_seed(0)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_text_encoder_is_the_clips_text_tower(trained_clip):
    model, processor = trained_clip
    encoder = miniature_training.text_encoder_of(model)
    tokens = processor.tokenizer(["a painting of a man, in the style of Baroque"], return_tensors="pt")
    assert torch.equal(encoder(**tokens).last_hidden_state, model.text_model(**tokens).last_hidden_state)


def test_saved_models_load_back_offline_and_give_the_same_outputs(tmp_path, split, trained_clip, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, processor = trained_clip
    pipe, losses = miniature_training.train_diffusion(SMALL, split[0], model, processor, progress=False)
    assert len(losses) == SMALL.diffusion_steps and all(math.isfinite(x) for x in losses)
    again, _ = miniature_training.train_diffusion(SMALL, split[0], model, processor, progress=False)
    for a, b in zip(pipe.unet.state_dict().values(), again.unet.state_dict().values()):
        assert torch.equal(a, b)  # deterministic given the seed
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    pipe.save_pretrained(tmp_path / "sd")
    clip2, processor2 = CLIPModel.from_pretrained(tmp_path / "clip"), CLIPProcessor.from_pretrained(tmp_path / "clip")
    # from_pretrained leaves the weights at the file's offsets, not 64-byte aligned, and MKL rounds a
    # one-row product (each text is encoded alone) with such weights otherwise in the last bit. In
    # memory of their own they compute as the saved model did; loaded alike, they agree with each other.
    for tensor in clip2.parameters():
        tensor.data = tensor.data.clone()
    images = split[1].images
    assert torch.equal(
        clip_space.image_embeddings(images, model, processor), clip_space.image_embeddings(images, clip2, processor2)
    )
    texts = ["Baroque", "a photo of a man, in the style of Pop Art"]
    assert torch.equal(
        clip_space.text_embeddings(texts, model, processor), clip_space.text_embeddings(texts, clip2, processor2)
    )

    pipe2 = StableDiffusionPipeline.from_pretrained(tmp_path / "sd")
    assert pipe2.scheduler.config.prediction_type == "v_prediction"
    prompts = text_encoding.encode_prompts(pipe, texts)
    assert torch.equal(prompts, text_encoding.encode_prompts(pipe2, texts))
    negative = text_encoding.encode_prompts(pipe, [""])
    runs = [
        policy.sample(
            p, prompts, negative, steps=3, guidance_scale=3.0, eta=1.0, generator=torch.Generator().manual_seed(0)
        )
        for p in (pipe, pipe2)
    ]
    assert runs[0].images.shape == (2, 3, 16, 16) and torch.isfinite(runs[0].log_probs).all()
    assert torch.equal(runs[0].images, runs[1].images)
    # ddpo's DDIM step handles v-prediction as diffusers does: at eta 0 both draw the same images
    ours = policy.sample(
        pipe2, prompts, negative, steps=3, guidance_scale=3.0, eta=0.0, generator=torch.Generator().manual_seed(1)
    ).images
    theirs = pipe2(
        prompt=texts,
        num_inference_steps=3,
        guidance_scale=3.0,
        eta=0.0,
        output_type="pt",
        generator=torch.Generator().manual_seed(1),
    ).images
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    rate = miniature.style_recognition_rate(
        pipe2, texts, torch.tensor([4, 19]), clip2, processor2, steps=2, guidance_scale=3.0, seed=0
    )
    assert 0.0 <= rate <= 1.0


def test_build_caches_each_model_by_the_settings_it_depends_on(tmp_path, monkeypatch):
    made = miniature.build(SMALL, tmp_path, progress=False)
    assert StableDiffusionPipeline.from_pretrained(made.stable_diffusion).unet.config.sample_size == 16
    assert CLIPModel.from_pretrained(made.clip).config.projection_dim == SMALL.clip_projection_dim
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip",
        "clip.json",
        "stable_diffusion",
        "stable_diffusion.json",
    ]  # no temporary folder left
    assert len(pd.read_csv(made.stable_diffusion / miniature.METRICS)) == SMALL.diffusion_steps

    def refuse(*args, **kwargs):
        raise AssertionError("trained again although its folder is current")

    monkeypatch.setattr(miniature, "train_clip", refuse)
    monkeypatch.setattr(miniature, "train_diffusion", refuse)
    assert miniature.build(SMALL, tmp_path, progress=False) == made  # nothing to do
    monkeypatch.undo()
    monkeypatch.setattr(miniature, "train_clip", refuse)
    before = (made.clip / "model.safetensors").read_bytes()
    miniature.build(dataclasses.replace(SMALL, diffusion_steps=2), tmp_path, progress=False)  # CLIP kept
    assert (made.clip / "model.safetensors").read_bytes() == before


class _DiffusersRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_mini_profile_loads_the_built_models_with_the_pretrained_loaders(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPCREATE_WORKDIR", str(tmp_path))
    monkeypatch.setenv(paths.PROFILE_VARIABLE, "mini")
    cfg = config.load("mini")
    with pytest.raises(loaders.ModelUnavailableError, match="run notebook 01 with the mini profile first"):
        loaders.load_clip(cfg)
    made = miniature.build(SMALL, tmp_path / "data" / "mini" / "miniature", progress=False)
    clip, _ = loaders.load_clip(cfg)
    warnings = _DiffusersRecords()
    logging.getLogger("diffusers").addHandler(warnings)
    try:
        pipe = loaders.load_stable_diffusion(cfg)
        logging.getLogger("diffusers.pipelines.pipeline_utils").warning("Expected types for unet: x, got y.")
    finally:
        logging.getLogger("diffusers").removeHandler(warnings)
    assert warnings.messages == [
        "Expected types for unet: x, got y."
    ]  # no notice of the load; the filter is gone after
    saved = CLIPModel.from_pretrained(made.clip)
    assert all(torch.equal(a, b) for a, b in zip(clip.state_dict().values(), saved.state_dict().values()))
    assert pipe.unet.config.sample_size == 16 and pipe.scheduler.config.prediction_type == "v_prediction"
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"
    name = loaders.model_name(cfg.models, "clip")
    assert name.startswith("mini-") and name != loaders.model_name(cfg.models, "stable_diffusion")
    miniature.build(dataclasses.replace(SMALL, clip_steps=2), tmp_path / "data" / "mini" / "miniature", progress=False)
    assert loaders.model_name(cfg.models, "clip") != name  # caches keyed on it are remade
    assert loaders.model_name(cfg.models, "blip") == "mini-seed0"
