"""Textual inversion: only the learned rows change, the saved file reloads through diffusers' own
loader and draws the same images, and a resumed run ends where a straight one does."""

import dataclasses

import numpy as np
import pytest
import safetensors.torch
import torch

from clipcreate_lib import artifacts
from clipcreate_lib.models import loaders
from clipcreate_lib.tokens import examples, inversion, training

TOKEN = "<cubism>"


@pytest.fixture
def setup(tiny_cfg):
    torch.manual_seed(0)
    pipe = loaders.load_stable_diffusion(tiny_cfg)
    latents = inversion.encode_images(pipe, torch.rand(4, 3, 32, 32))
    captions = [f"a painting of a red animal on stripes by {TOKEN}"] * 4
    settings = dataclasses.replace(tiny_cfg.tokens, steps=4, batch_size=2, checkpoint_every=2, vectors=2, lr=1e-2)
    return pipe, latents, captions, settings


def _draw(pipe, cfg):
    protocol = dataclasses.replace(cfg.evaluation, steps=3, batch_size=2)
    return examples.sample(pipe, [f"a painting of a man by {TOKEN}"] * 2, protocol, "t", progress=False)


def test_only_the_new_tokens_rows_change_and_they_reload_through_load_textual_inversion(setup, tiny_cfg, tmp_path):
    pipe, latents, captions, settings = setup
    before = pipe.text_encoder.get_input_embeddings().weight.detach().clone()
    frozen = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    ids = inversion.add_token(pipe, TOKEN, 2, "painting")
    start = pipe.text_encoder.get_input_embeddings().weight[ids].detach().clone()
    rows, reused = training.learn(pipe, TOKEN, ids, latents, captions, settings, tmp_path, {"test": 1}, False)
    after = pipe.text_encoder.get_input_embeddings().weight
    assert not reused and rows.shape == (2, before.shape[1])
    assert torch.equal(after[: len(before)], before)  # every other row bitwise as it was
    assert torch.equal(after[ids], rows) and not torch.equal(rows, start)  # the token's rows did learn
    assert all(torch.equal(v, frozen[k]) for k, v in pipe.unet.state_dict().items())
    saved = safetensors.torch.load_file(tmp_path / training.EMBEDS)
    assert list(saved) == [TOKEN] and torch.equal(saved[TOKEN], rows)
    fresh = loaders.load_stable_diffusion(tiny_cfg)
    fresh.load_textual_inversion(str(tmp_path))  # diffusers' loader, from the folder
    assert fresh.maybe_convert_prompt(f"by {TOKEN}", fresh.tokenizer) == f"by {TOKEN} {TOKEN}_1"
    assert torch.equal(_draw(fresh, tiny_cfg), _draw(pipe, tiny_cfg))
    again, reused = training.learn(pipe, TOKEN, ids, latents, captions, settings, tmp_path, {"test": 1}, False)
    assert reused and torch.equal(again, rows)


def test_a_resumed_run_ends_where_a_straight_one_does(setup, tiny_cfg, tmp_path):
    pipe, latents, captions, settings = setup
    ids = inversion.add_token(pipe, TOKEN, 2, "painting")
    straight, _ = training.learn(pipe, TOKEN, ids, latents, captions, settings, tmp_path / "a", {"t": 1}, False)
    other = loaders.load_stable_diffusion(tiny_cfg)
    ids = inversion.add_token(other, TOKEN, 2, "painting")
    half = dataclasses.replace(settings, steps=2)
    training._train(other, ids, latents, captions, half, tmp_path / "b", {"t": 1, "token": TOKEN}, False)
    record = {"t": 1, "token": TOKEN, **{k: getattr(settings, k) for k in training.TRAINING_KEYS}}
    # the half run's checkpoint, relabelled as a stop at step 2 of the full run
    artifacts.mark_made_from(tmp_path / "b" / training.CHECKPOINT, record)
    resumed, _ = training.learn(other, TOKEN, ids, latents, captions, settings, tmp_path / "b", {"t": 1}, False)
    assert torch.allclose(resumed, straight, atol=1e-6)
    a, b = training.loss_curve(tmp_path / "a"), training.loss_curve(tmp_path / "b")
    assert list(b["step"]) == [1, 2, 3, 4] and np.allclose(a["loss"], b["loss"], atol=1e-6)


def test_a_relearned_word_changes_its_one_row_and_is_written_back_in_place(setup, tiny_cfg, tmp_path):
    pipe, latents, captions, settings = setup
    settings = dataclasses.replace(settings, vectors=1)
    before = pipe.text_encoder.get_input_embeddings().weight.detach().clone()
    word = inversion.word_id(pipe, "painting")
    rows, _ = training.learn(pipe, "painting", [word], latents, captions, settings, tmp_path, {"w": 1}, False)
    after = pipe.text_encoder.get_input_embeddings().weight
    changed = (after != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [word] and after.shape == before.shape
    fresh = loaders.load_stable_diffusion(tiny_cfg)
    training.load_word(fresh, tmp_path, "painting")
    assert torch.equal(fresh.text_encoder.get_input_embeddings().weight, after)


def test_a_word_of_several_tokens_and_a_known_token_are_refused(tiny_cfg):
    pipe = loaders.load_stable_diffusion(tiny_cfg)
    with pytest.raises(ValueError, match="not one"):
        inversion.word_id(pipe, "zebra")
    with pytest.raises(ValueError, match="already knows"):
        inversion.add_token(pipe, "painting", 1, "painting")
