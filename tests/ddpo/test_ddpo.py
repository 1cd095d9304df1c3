"""DDPO: the DDIM step's log-prob, the PPO loss, the stat tracker, and the trainer's guarantees."""

import dataclasses
import json
import math
import types

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel

from clipcreate_lib import config
from clipcreate_lib.ddpo import policy, ppo, records, weights
from clipcreate_lib.ddpo.records import CHECKPOINT, METRICS, TIMINGS
from clipcreate_lib.ddpo.trainer import InvalidRewardError, Trainer
from clipcreate_lib.models import loaders, text_encoding
from clipcreate_lib.models.builders import SD2_SCHEDULER


def _scheduler(steps=10, **overrides):
    scheduler = DDIMScheduler(**{**SD2_SCHEDULER, **overrides})
    scheduler.set_timesteps(steps)
    return scheduler


# --- the DDIM step -----------------------------------------------------------------------------
@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_ddim_step_matches_diffusers_and_an_independent_gaussian_log_density(eta):
    scheduler = _scheduler()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 8, 8, generator=g)
    eps = torch.randn(3, 4, 8, 8, generator=g)
    for t in scheduler.timesteps:
        ours, log_prob = policy.ddim_step(scheduler, eps, t, x, eta, generator=torch.Generator().manual_seed(7))
        # diffusers draws the same noise from the same generator
        theirs = scheduler.step(eps, t, x, eta=eta, generator=torch.Generator().manual_seed(7)).prev_sample
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        mean = scheduler.step(eps, t, x, eta=eta, variance_noise=torch.zeros_like(x)).prev_sample
        prev_t = int(t) - 1000 // 10
        std = eta * scheduler._get_variance(int(t), prev_t) ** 0.5
        expected = torch.distributions.Normal(mean, std).log_prob(ours).mean(dim=(1, 2, 3))
        torch.testing.assert_close(log_prob, expected, rtol=1e-5, atol=1e-4)


def test_log_prob_at_the_mean_is_minus_log_sigma_minus_half_log_two_pi():
    scheduler = _scheduler()
    t = scheduler.timesteps[3]
    x, eps = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)
    mean = scheduler.step(eps, t, x, eta=1.0, variance_noise=torch.zeros_like(x)).prev_sample
    _, log_prob = policy.ddim_step(scheduler, eps, t, x, 1.0, prev_sample=mean)
    # hand formula for sigma_t: sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    a_t, a_prev = scheduler.alphas_cumprod[int(t)], scheduler.alphas_cumprod[int(t) - 100]
    sigma = math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    expected = -math.log(sigma) - 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(log_prob, torch.full((2,), expected), rtol=1e-5, atol=1e-5)


def test_every_step_is_finite_with_sd2_settings_but_not_with_steps_offset_zero():
    x, eps = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)
    good, bad = _scheduler(), _scheduler(steps_offset=0)
    assert all(policy.ddim_step(good, eps, t, x, 1.0)[1].isfinite().all() for t in good.timesteps)
    last = bad.timesteps[-1]
    assert int(last) == 0 and not policy.ddim_step(bad, eps, last, x, 1.0)[1].isfinite().any()


# --- PPO -----------------------------------------------------------------------------------------
def test_ppo_loss_on_a_hand_made_batch():
    ratios = torch.tensor([1.2, 0.8, 1.0, 1.00005], dtype=torch.float64)
    old = torch.zeros(4, dtype=torch.float64)
    log_prob = ratios.log().requires_grad_(True)
    advantages = torch.tensor([1.0, -1.0, 2.0, 10.0], dtype=torch.float64)  # 10 is clipped to 5
    loss, kl, clipfrac = ppo.ppo_loss(log_prob, old, advantages, clip_range=0.1, adv_clip_max=5.0, log_ratio_limit=20.0)
    # per sample max(-A r, -A clip(r)): max(-1.2, -1.1), max(0.8, 0.9), -2, -5 * 1.00005
    assert loss.item() == pytest.approx((-1.1 + 0.9 - 2.0 - 5.00025) / 4, abs=1e-12)
    assert clipfrac.item() == 0.5
    assert kl.item() == pytest.approx(0.5 * float((ratios.log() ** 2).mean()), abs=1e-12)
    loss.backward()
    # the two clipped samples get no gradient; d(-A r)/d log r = -A r, divided by the batch size
    torch.testing.assert_close(log_prob.grad, torch.tensor([0.0, 0.0, -2.0 / 4, -5 * 1.00005 / 4], dtype=torch.float64))


def test_a_huge_log_ratio_is_clamped_before_exp_but_keeps_its_gradient():
    log_prob = torch.tensor([1e4, -1e4, 0.0, 1e4], dtype=torch.float64, requires_grad=True)
    loss, kl, _ = ppo.ppo_loss(
        log_prob, torch.zeros(4, dtype=torch.float64), torch.tensor([-1.0, 1.0, 1.0, 1.0]), 1e-4, 5.0, 20.0
    )
    assert torch.isfinite(loss) and torch.isfinite(kl)
    # r = e^20 with A = -1: max(e^20, 1 + 1e-4); r = e^-20 with A = 1: max(-e^-20, -(1 - 1e-4)); r = 1: -1;
    # r = e^20 with A = 1: max(-e^20, -(1 + 1e-4))
    assert loss.item() == pytest.approx((math.exp(20) - math.exp(-20) - 1.0 - 1.0001) / 4, rel=1e-12)
    loss.backward()
    # d/d log r of the term taken, / 4: -A r for the first three (unclipped); the clipped one is flat.
    # A hard clamp gave the first two 0, so a sample whose ratio had run away was never pulled back.
    expected = torch.tensor([math.exp(20), -math.exp(-20), -1.0, 0.0], dtype=torch.float64) / 4
    torch.testing.assert_close(log_prob.grad, expected, rtol=1e-12, atol=0)
    assert not torch.isfinite(torch.exp(torch.tensor(1e4)))  # what the clamp prevents


def test_stat_tracker_switches_from_batch_to_per_prompt_statistics():
    tracker = ppo.PerPromptStatTracker(buffer_size=4, min_count=3)
    first = tracker.update(["a", "a", "b"], np.array([1.0, 3.0, 5.0]))
    batch_std = np.std([1.0, 3.0, 5.0]) + 1e-6  # both prompts have < 3 rewards: batch mean 3
    np.testing.assert_allclose(first, [(1 - 3) / batch_std, 0.0, (5 - 3) / batch_std])
    second = tracker.update(["a", "a"], np.array([5.0, 7.0]))  # "a" now holds 1, 3, 5, 7: mean 4
    np.testing.assert_allclose(second, [1 / (math.sqrt(5) + 1e-6), 3 / (math.sqrt(5) + 1e-6)])
    third = tracker.update(["a"], np.array([9.0]))  # the buffer keeps 4: 3, 5, 7, 9
    np.testing.assert_allclose(third, [3 / (math.sqrt(5) + 1e-6)])
    restored = ppo.PerPromptStatTracker(4, 3)
    restored.load_state_dict(tracker.state_dict())
    np.testing.assert_allclose(restored.update(["a"], np.array([1.0])), tracker.update(["a"], np.array([1.0])))


# --- sampling and the trainer ---------------------------------------------------------------------
def _tiny(**ddpo_overrides):
    cfg = config.load("tiny", ddpo={"sample_batches": 1, "epochs": 2, **ddpo_overrides})
    return loaders.load_stable_diffusion(cfg), cfg.ddpo


def _brightness(images, prompts):
    value = images.mean(dim=(1, 2, 3))
    return {"reward": value, "brightness": value}


def test_recomputing_a_stored_trajectory_reproduces_its_log_probs():
    pipe, cfg = _tiny()
    prompts = text_encoding.encode_prompts(pipe, ["painting", "art", "art"])
    negative = text_encoding.encode_prompts(pipe, [""])
    traj = policy.sample(pipe, prompts, negative, 10, 5.0, 1.0, torch.Generator().manual_seed(3))
    assert traj.latents.shape == (3, 11, 4, 16, 16) and traj.log_probs.shape == (3, 10)
    assert traj.images.shape == (3, 3, 32, 32) and 0 <= traj.images.min() and traj.images.max() <= 1
    embeddings = policy.condition(negative, prompts, 5.0)
    with torch.no_grad():
        for j, t in enumerate(traj.timesteps):
            noise = policy.guided_noise(pipe.unet, traj.latents[:, j], t, embeddings, 5.0)
            _, log_prob = policy.ddim_step(
                pipe.scheduler, noise, t, traj.latents[:, j], 1.0, prev_sample=traj.latents[:, j + 1]
            )
            torch.testing.assert_close(log_prob, traj.log_probs[:, j], rtol=0, atol=1e-5)


def test_the_trainers_passes_score_each_step_as_sampling_did(tmp_path):
    """Trainer.passes and pass_log_probs, which the update and gpu_sweep's log-ratio check share:
    k steps per UNet call, rows image-major, give each step's sampling log-prob back."""
    for per_pass, expected in ((1, [[0], [1], [2], [3]]), (3, [[0, 1, 2], [3]])):
        pipe, cfg = _tiny(timesteps_per_pass=per_pass, sample_steps=4)
        trainer = Trainer(pipe, _brightness, cfg, tmp_path / str(per_pass), progress=False)
        prompts = trainer.policy.prompt_embeddings[torch.tensor([0, 1, 2])]
        traj = policy.sample(
            pipe,
            prompts,
            trainer.policy.negative_embedding,
            4,
            cfg.guidance_scale,
            1.0,
            torch.Generator().manual_seed(3),
        )
        passes = trainer.policy.passes(traj.timesteps)
        assert [js.tolist() for js in passes] == expected
        with torch.no_grad():
            for js in passes:
                log_prob = trainer.policy.log_probs(traj.latents, traj.timesteps, js, prompts)
                torch.testing.assert_close(log_prob, traj.log_probs[:, js].flatten(), rtol=0, atol=1e-5)


def test_channels_last_changes_the_layout_not_the_samples(tmp_path):
    rows = []
    for channels_last in (False, True):
        pipe, cfg = _tiny(channels_last=channels_last)
        trainer = Trainer(pipe, _brightness, cfg, tmp_path / str(channels_last), progress=False)
        rows.append(trainer.train_epoch())  # its rewards are of samples drawn before any update
        assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert rows[1]["reward_mean"] == pytest.approx(rows[0]["reward_mean"], abs=1e-6)
    assert all(row["sample_seconds"] > 0 and row["train_seconds"] > 0 for row in rows)


def _trained_weights(trainer):
    return {name: p.detach().clone() for name, p in trainer.state.params.items()}


def test_the_learning_rate_warms_up_linearly_over_the_first_optimiser_steps(tmp_path):
    pipe, cfg = _tiny(lr_warmup_steps=3, epochs=4)  # one optimiser step per epoch
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    used = []
    for _ in range(4):
        used.append(trainer.state.optimizer.param_groups[0]["lr"])  # the rate the epoch's step uses
        trainer.train_epoch()
    assert used == pytest.approx(
        [cfg.learning_rate / 3, cfg.learning_rate * 2 / 3, cfg.learning_rate, cfg.learning_rate], rel=1e-12
    )


def test_resume_ends_in_the_same_state_as_an_uninterrupted_run(tmp_path):
    warm = {"lr_warmup_steps": 3}  # epochs 2 and 3 of the resumed run must go on with the warm-up's rates
    pipe, cfg = _tiny(**warm)
    straight = Trainer(pipe, _brightness, cfg, tmp_path / "straight", progress=False)
    straight.train(3)
    pipe, cfg = _tiny(**warm)
    Trainer(pipe, _brightness, cfg, tmp_path / "resumed", progress=False).train(1)
    pipe, cfg = _tiny(**warm)  # a new process would start from fresh weights
    resumed = Trainer(pipe, _brightness, cfg, tmp_path / "resumed", progress=False)
    assert resumed.state.epoch == 1
    resumed.train(3)
    for name, value in _trained_weights(straight).items():
        assert torch.equal(value, resumed.state.params[name]), name
    assert list(straight.timings().columns) == ["epoch", "sample_seconds", "reward_seconds", "train_seconds", "seconds"]
    assert not any(c.endswith("seconds") for c in straight.metrics().columns)  # the timings live apart
    assert straight.metrics().equals(resumed.metrics())
    assert list(pd.read_csv(tmp_path / "resumed" / METRICS)["epoch"]) == [1, 2, 3]
    assert list(pd.read_csv(tmp_path / "resumed" / TIMINGS)["epoch"]) == [1, 2, 3]
    for name in (METRICS, weights.TRAINED):  # the same bytes, whichever process wrote them
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name
    exports = [tmp_path / run / "lora" / weights.LORA_FILE for run in ("straight", "resumed")]
    assert weights.content_bytes(exports[0]) == weights.content_bytes(exports[1])  # metadata, then the tensors


def test_a_run_stopped_while_publishing_its_weights_repairs_them_from_its_checkpoint(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    pipe, cfg = _tiny()
    Trainer(pipe, _brightness, cfg, tmp_path / "straight", progress=False).train(2)
    pipe, cfg = _tiny()
    trainer = Trainer(pipe, _brightness, cfg, tmp_path / "stopped", progress=False)
    trainer.train(1)
    export = records.export_weights

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # the user stops the run while epoch 2's weights are being exported

    monkeypatch.setattr(records, "export_weights", stopped)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(2)
    monkeypatch.setattr(records, "export_weights", export)
    assert json.loads((tmp_path / "stopped" / weights.TRAINED).read_text())["epochs"] == 1  # still epoch 1's
    pipe, cfg = _tiny()
    resumed = Trainer(pipe, _brightness, cfg, tmp_path / "stopped", progress=False)
    assert resumed.state.epoch == 2  # the checkpoint is the record: epoch 2 is done, its export is not
    resumed.train(2)
    assert json.loads((tmp_path / "stopped" / weights.TRAINED).read_text())["epochs"] == 2
    exported = [load_file(tmp_path / run / "lora" / weights.LORA_FILE) for run in ("straight", "stopped")]
    assert exported[0].keys() == exported[1].keys()
    assert all(torch.equal(exported[0][name], exported[1][name]) for name in exported[0])


def test_resume_refuses_a_checkpoint_made_with_other_settings(tmp_path):
    pipe, cfg = _tiny()
    Trainer(pipe, _brightness, cfg, tmp_path, progress=False).train(1)
    trained = json.loads((tmp_path / weights.TRAINED).read_text())
    assert (trained["device"], trained["frozen_dtype"]) == ("cpu", "float32")
    pipe, cfg = _tiny(learning_rate=1e-3)
    with pytest.raises(RuntimeError, match=r"trained with other settings \(ddpo.learning_rate\)"):
        Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    pipe, cfg = _tiny()
    pipe.to(dtype=torch.bfloat16)  # the frozen models as models.dtype bfloat16 loads them on a GPU
    with pytest.raises(RuntimeError, match=r"trained with other settings \(frozen_dtype\)"):
        Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    pipe, cfg = _tiny(channels_last=True, tf32=False)  # speed options may change between sessions
    assert Trainer(pipe, _brightness, cfg, tmp_path, progress=False).state.epoch == 1
    pipe, cfg = _tiny()
    with pytest.raises(ValueError, match="already holds 1 epochs, more than the 0 asked for"):
        Trainer(pipe, _brightness, cfg, tmp_path, progress=False).train(0)


def test_a_full_fine_tune_trains_under_a_bfloat16_text_encoder_without_autocast(tmp_path):
    pipe, cfg = _tiny(lora=False, autocast=False)
    pipe.to(dtype=torch.bfloat16)  # the frozen models as a GPU run loads them (models.dtype)
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    assert trainer.policy.prompt_embeddings.dtype == torch.bfloat16 and pipe.unet.conv_in.weight.dtype == torch.float32
    row = trainer.train_epoch()  # the float32 UNet's cross-attention took bf16 embeddings and raised
    assert np.isfinite(row["loss"]) and row["skipped_steps"] == 0


def test_the_gpu_defaults_train_lora_in_float32_under_bfloat16_autocast(tmp_path):
    """The paper profile's path on a GPU (bf16 frozen models, float32 LoRA, the UNet under bf16
    autocast), run on the CPU with CPU autocast, since CI has no GPU: every dtype boundary of a
    sampling pass, a rescoring pass and an update is crossed, and the adapters alone change."""
    pipe, cfg = _tiny()
    pipe.to(dtype=torch.bfloat16)
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    trainer.policy.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    before = {name: p.detach().clone() for name, p in pipe.unet.named_parameters()}
    row = trainer.train_epoch()
    assert np.isfinite(row["loss"]) and row["skipped_steps"] == 0
    changed = {name for name, p in pipe.unet.named_parameters() if not torch.equal(p, before[name])}
    assert changed and changed == {name for name in trainer.state.params if "lora" in name}
    assert all(p.dtype == torch.float32 for p in trainer.state.params.values())
    assert pipe.unet.conv_in.weight.dtype == torch.bfloat16


def test_eta_zero_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(config.ConfigError, match="key 'ddpo.eta' must be above 0, got 0.0"):
        _tiny(eta=0.0)  # a profile is refused when it is loaded
    pipe, cfg = _tiny()
    with pytest.raises(ValueError, match="ddpo.eta must be above 0"):  # and the trainer on its own
        Trainer(pipe, _brightness, dataclasses.replace(cfg, eta=0.0), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_nan_reward_is_left_out_and_an_all_nan_epoch_stops_with_the_checkpoint_intact(tmp_path):
    pipe, cfg = _tiny()
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    trainer.train(1)

    def some_nan(images, prompts):
        value = images.mean(dim=(1, 2, 3))
        value[0] = float("nan")
        value[1] = float("inf")
        return {"reward": value}

    trainer.reward_fn = some_nan
    with pytest.warns(UserWarning, match="2 of 4 samples had a NaN or infinite reward"):
        row = trainer.train_epoch()
    assert row["dropped_samples"] == 2 and np.isfinite(row["reward_mean"])
    assert all(torch.isfinite(p).all() for p in trainer.state.params.values())
    saved = (tmp_path / CHECKPOINT).read_bytes()
    trainer.reward_fn = lambda images, prompts: {"reward": torch.full((len(images),), float("nan"))}
    before = _trained_weights(trainer)
    with pytest.raises(InvalidRewardError, match="checkpoint of epoch 2 .* is intact"):
        trainer.train_epoch()
    assert (tmp_path / CHECKPOINT).read_bytes() == saved
    assert all(torch.equal(before[n], p) for n, p in trainer.state.params.items())


def test_a_zero_variance_step_is_skipped_and_never_reaches_the_weights(tmp_path):
    pipe, cfg = _tiny(train_batch_size=2)
    pipe.scheduler = DDIMScheduler(**{**SD2_SCHEDULER, "steps_offset": 0})  # last step: variance exactly 0
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    before = _trained_weights(trainer)
    row = trainer.train_epoch()
    assert row["skipped_terms"] == 2  # the last timestep of each of the two train batches
    assert all(torch.isfinite(p).all() for p in trainer.state.params.values())
    assert any(not torch.equal(before[n], p) for n, p in trainer.state.params.items())  # the other steps trained


class _LatentsAsImage(torch.nn.Module):
    """Stands in for the VAE: the first three latent channels, upsampled, are the image. The tiny
    random VAE's GroupNorms make its brightness all but independent of the latents (std 0.0007
    across samples), so brightness through it would test nothing."""

    dtype = torch.float32
    config = types.SimpleNamespace(scaling_factor=1.0)

    def decode(self, latents):
        return types.SimpleNamespace(sample=F.interpolate(latents[:, :3], scale_factor=2))


def _brightness_on_fixed_seeds(pipe):
    """The mean brightness of 16 "painting" samples of ``pipe`` from one fixed seed (before and after
    training: a paired comparison)."""
    embeddings = text_encoding.encode_prompts(pipe, ["painting"] * 16)
    negative = text_encoding.encode_prompts(pipe, [""])
    pipe.unet.eval()
    traj = policy.sample(pipe, embeddings, negative, 10, 5.0, 1.0, torch.Generator().manual_seed(123))
    return traj.images.mean(dim=(1, 2, 3))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_training_moves_an_easy_reward_in_its_direction(tmp_path, sign):
    pipe, cfg = _tiny(
        sample_batches=2,
        train_batch_size=2,
        learning_rate=3e-3,
        clip_range=1e-2,
        lora=False,
        per_prompt_stats=False,
        prompts=["painting"],
    )
    pipe.vae = _LatentsAsImage()
    before = _brightness_on_fixed_seeds(pipe)
    signed = lambda images, prompts: {"reward": sign * images.mean(dim=(1, 2, 3))}  # noqa: E731
    Trainer(pipe, signed, cfg, tmp_path, progress=False).train(6)
    change = _brightness_on_fixed_seeds(pipe) - before  # paired: the same seeds before and after
    standard_error = change.std() / math.sqrt(len(change))
    assert sign * change.mean() > 3 * standard_error


def test_exported_lora_loads_into_a_fresh_pipeline(tmp_path):
    pipe, cfg = _tiny(lora_alpha=8)  # alpha != rank: the scale must travel with the weights
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    trainer.train(1)
    with torch.no_grad():
        for p in trainer.state.params.values():
            p.add_(0.05 * torch.randn_like(p))  # a clearly trained adapter
    weights.export_weights(pipe, tmp_path, lora=True)
    fresh, _ = _tiny()
    weights.load_trained(fresh, tmp_path)
    prompts = text_encoding.encode_prompts(pipe, ["art"])
    negative = text_encoding.encode_prompts(pipe, [""])
    pipe.unet.eval()
    a = policy.sample(pipe, prompts, negative, 4, 5.0, 0.0, torch.Generator().manual_seed(0)).latents
    b = policy.sample(fresh, prompts, negative, 4, 5.0, 0.0, torch.Generator().manual_seed(0)).latents
    untouched, _ = _tiny()
    c = policy.sample(untouched, prompts, negative, 4, 5.0, 0.0, torch.Generator().manual_seed(0)).latents
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)
    with pytest.raises(FileNotFoundError, match="run notebook 04_ddpo"):
        weights.load_trained(untouched, tmp_path / "nothing")


def test_scoring_timesteps_together_gives_the_same_gradient(tmp_path):
    grads = {}
    for per_pass in (1, 3, 10):
        pipe, cfg = _tiny(timesteps_per_pass=per_pass)
        trainer = Trainer(pipe, _brightness, cfg, tmp_path / str(per_pass), progress=False)
        first = []

        def keep_gradients(*_, first=first, params=trainer.state.params):
            first.append({n: p.grad.clone() for n, p in params.items()})

        trainer.state.optimizer.register_step_pre_hook(keep_gradients)  # one train batch per epoch: after the loss
        row = trainer.train_epoch()
        grads[per_pass] = (first[0], row["loss"])
    for per_pass in (3, 10):
        for name, grad in grads[1][0].items():  # float32 rounding differs between batch shapes
            assert (grads[per_pass][0][name] - grad).norm() <= 1e-4 * grad.norm(), name
        assert grads[per_pass][1] == pytest.approx(grads[1][1], abs=1e-6)  # ~0: advantages sum to ~0


def test_inner_epochs_pass_over_the_samples_again(tmp_path):
    pipe, cfg = _tiny(inner_epochs=2, train_batch_size=2)  # 4 samples: 2 batches per pass
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    steps = []
    trainer.state.optimizer.register_step_post_hook(lambda *_: steps.append(1))
    trainer.train_epoch()
    assert len(steps) == 4


def test_training_draws_from_its_own_generators_and_leaves_the_global_rng_alone(tmp_path):
    """The adapters are initialised under a forked RNG and sampling and shuffling use the trainer's
    generators, so neither building a trainer nor an epoch moves torch's global random state, and
    the trained weights do not depend on it."""
    results = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        before = torch.get_rng_state()
        pipe, cfg = _tiny()
        trainer = Trainer(pipe, _brightness, cfg, tmp_path / str(seed), progress=False)
        trainer.train_epoch()
        assert torch.equal(torch.get_rng_state(), before)
        results.append(_trained_weights(trainer))
    assert all(torch.equal(results[0][name], results[1][name]) for name in results[0])


def test_a_full_fine_tune_writes_the_unet_into_its_checkpoint_each_epoch_and_exports_it_once(tmp_path):
    pipe, cfg = _tiny(lora=False, epochs=2)
    trainer = Trainer(pipe, _brightness, cfg, tmp_path, progress=False)
    trainer.train_epoch()
    assert (tmp_path / CHECKPOINT).exists() and not (tmp_path / "unet").exists()  # not exported per epoch
    assert not (tmp_path / weights.TRAINED).exists()
    trainer.train()
    exported = UNet2DConditionModel.from_pretrained(tmp_path / "unet")
    for name, value in exported.state_dict().items():
        assert torch.equal(value, pipe.unet.state_dict()[name]), name
    assert json.loads((tmp_path / weights.TRAINED).read_text())["epochs"] == 2
