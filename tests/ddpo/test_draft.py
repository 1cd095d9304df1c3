"""DRaFT-K: its gradient against autograd through an independent sampling chain (diffusers' own DDIM
step), what K = 1 differentiates, bitwise resume, and a reward it moves in its direction."""

import math

import pandas as pd
import pytest
import torch
from test_ddpo import _brightness_on_fixed_seeds, _LatentsAsImage, _tiny, _trained_weights

from clipcreate_lib import config
from clipcreate_lib.ddpo import optimisers, policy
from clipcreate_lib.ddpo.draft import DraftTrainer, sample_through_last
from clipcreate_lib.ddpo.records import METRICS, TIMINGS


def _trainer(tmp_path, k, reward, checkpointing=True, **ddpo):
    pipe, cfg = _tiny(**ddpo)
    draft = config.DraftConfig(steps=k, checkpointing=checkpointing)
    return DraftTrainer(pipe, reward, cfg, draft, tmp_path, progress=False)


def _weighted_pixels(images, prompts):
    """A reward with a gradient in every pixel: a fixed random weighting of the image."""
    weights = torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(5))
    value = (images * weights).mean(dim=(1, 2, 3))
    return {"reward": value}


def _plain_chain_gradient(trainer, index, seed, k):
    """The gradient of -mean(reward) through diffusers' DDIMScheduler.step, the UNet called by hand,
    the last ``k`` steps with autograd on, the same noise drawn in the same order."""
    pipe, cfg, generator = trainer.pipe, trainer.cfg, torch.Generator().manual_seed(seed)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(cfg.sample_steps)
    prompts = trainer.policy.prompt_embeddings[index]
    states = torch.cat([trainer.policy.negative_embedding.expand(len(index), -1, -1), prompts])
    x = torch.randn((len(index), 4, 16, 16), generator=generator) * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        with torch.set_grad_enabled(i >= cfg.sample_steps - k):
            uncond, cond = pipe.unet(torch.cat([x, x]), t, encoder_hidden_states=states).sample.chunk(2)
            eps = uncond + cfg.guidance_scale * (cond - uncond)
            noise = torch.randn(x.shape, generator=generator)
            x = scheduler.step(eps, t, x, eta=cfg.eta, variance_noise=noise).prev_sample
    images = (pipe.vae.decode(x / pipe.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
    (-trainer.reward_fn(images, [""] * len(index))["reward"].mean()).backward()
    return _take_gradient(trainer)


def _take_gradient(trainer):
    grads = torch.cat([p.grad.flatten() for p in trainer.state.params.values()])
    trainer.state.optimizer.zero_grad(set_to_none=True)
    return grads


def _draft_gradient(trainer, index, seed, checkpointing):
    trainer.checkpointing = checkpointing
    trainer.state.noise_rng.manual_seed(seed)
    seconds = {"sample_seconds": 0.0, "reward_seconds": 0.0, "train_seconds": 0.0}
    trainer.backward_batch(index, seconds)
    return _take_gradient(trainer)


@pytest.mark.parametrize("k", [10, 1])
def test_the_gradient_is_autograd_through_the_plain_chain_checkpointed_or_not(tmp_path, k):
    trainer = _trainer(tmp_path, k, _weighted_pixels)
    index = torch.tensor([0, 2])
    grad_enabled = []
    trainer.pipe.unet.register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    plain = _plain_chain_gradient(trainer, index, seed=11, k=k)
    grad_enabled.clear()
    kept = _draft_gradient(trainer, index, 11, checkpointing=False)
    assert grad_enabled == [False] * (10 - k) + [True] * k  # K = 1: the last step's UNet call alone
    checkpointed = _draft_gradient(trainer, index, 11, checkpointing=True)
    assert plain.norm() > 0
    assert (checkpointed - kept).norm() <= 1e-6 * kept.norm()
    assert (kept - plain).norm() <= 1e-5 * plain.norm()  # float32 rounding: our DDIM step against diffusers'
    if k == 1:  # and K = all differs from it: the earlier steps' graph does reach the weights
        assert (_draft_gradient(_trainer(tmp_path / "all", 10, _weighted_pixels), index, 11, False) - kept).norm() > (
            1e-3 * kept.norm()
        )


def test_a_draft_batch_samples_what_the_ddpo_policy_samples(tmp_path):
    trainer = _trainer(tmp_path, 1, _weighted_pixels)
    prompts, negative = trainer.policy.prompt_embeddings[torch.tensor([1, 0])], trainer.policy.negative_embedding
    with torch.no_grad():
        ours, _ = sample_through_last(
            trainer.pipe, prompts, negative, 10, 5.0, 1.0, torch.Generator().manual_seed(3), 1, True
        )
    theirs = policy.sample(trainer.pipe, prompts, negative, 10, 5.0, 1.0, torch.Generator().manual_seed(3)).images
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_resume_ends_in_the_same_state_and_refuses_another_k(tmp_path):
    warm = {"lr_warmup_steps": 3}
    straight = _trainer(tmp_path / "straight", 2, _weighted_pixels, **warm)
    straight.train(3)
    _trainer(tmp_path / "resumed", 2, _weighted_pixels, **warm).train(1)
    resumed = _trainer(tmp_path / "resumed", 2, _weighted_pixels, checkpointing=False, **warm)  # a memory option
    assert resumed.state.epoch == 1
    resumed.train(3)
    for name, value in _trained_weights(straight).items():
        assert torch.equal(value, resumed.state.params[name]), name
    assert straight.metrics().equals(resumed.metrics())
    assert (tmp_path / "straight" / METRICS).read_bytes() == (tmp_path / "resumed" / METRICS).read_bytes()
    assert list(pd.read_csv(tmp_path / "resumed" / TIMINGS)["epoch"]) == [1, 2, 3]
    assert list(straight.metrics().columns) == [
        "epoch",
        *("reward_mean", "reward_std", "loss", "grad_norm", "skipped_steps", "dropped_samples"),
    ]
    with pytest.raises(RuntimeError, match=r"trained with other settings \(draft_steps\)"):
        _trainer(tmp_path / "resumed", 1, _weighted_pixels, **warm)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_training_moves_brightness_in_its_direction(tmp_path, sign):
    pipe, cfg = _tiny(sample_batches=2, learning_rate=3e-3, lora=False, prompts=["painting"])
    pipe.vae = _LatentsAsImage()  # brightness through the tiny random VAE hardly depends on the latents
    before = _brightness_on_fixed_seeds(pipe)
    signed = lambda images, prompts: {"reward": sign * images.mean(dim=(1, 2, 3))}  # noqa: E731
    DraftTrainer(pipe, signed, cfg, config.DraftConfig(steps=2), tmp_path, progress=False).train(3)
    change = _brightness_on_fixed_seeds(pipe) - before  # paired: the same seeds before and after
    assert sign * change.mean() > 3 * change.std() / math.sqrt(len(change))


def test_images_to_target_counts_the_first_epoch_at_ddpos_final_level():
    ddpo = pd.DataFrame({"epoch": [1, 2, 3, 4], "ambiguity_mean": [-5.0, -4.0, -3.0, -2.0], "ambiguity_std": 1.0})
    draft = pd.DataFrame({"epoch": [1, 2, 3], "ambiguity_mean": [-4.0, -2.4, -1.0], "ambiguity_std": 1.0})
    seconds = lambda n: pd.DataFrame({"seconds": [10.0] * n})  # noqa: E731
    table = optimisers.comparison({"DDPO": (ddpo, seconds(4)), "DRaFT-1": (draft, seconds(3))}, 32, window=2)
    assert table["target"].tolist() == [-2.5, -2.5]  # the mean of DDPO's last two epochs
    assert table["epochs_to_target"].tolist() == [4, 2] and table["images_to_target"].tolist() == [128, 64]
    assert table["seconds_to_target"].tolist() == [40.0, 20.0] and table["sample_speedup"].tolist() == [1.0, 2.0]
    assert table["final_ambiguity"].tolist() == [-2.5, -1.7]
    never = optimisers.to_target(optimisers.curve(draft, seconds(3), 32), 0.0)
    assert all(math.isnan(v) for v in never.values())
