"""DDPO's work in fewer, larger calls gives the same epoch; the precision study's switch and later settings."""

import torch

from clipcreate_lib import config
from clipcreate_lib.ddpo import precision, rollout
from clipcreate_lib.ddpo.policy import Policy
from clipcreate_lib.ddpo.trainer import Trainer, run_settings
from clipcreate_lib.models import loaders


def _brightness(images, prompts):
    value = images.mean(dim=(1, 2, 3))
    return {"reward": value, "brightness": value}


def test_batches_sampled_together_are_the_samples_each_has_alone():
    cfg = config.load("tiny", ddpo={"sample_batches": 4, "sample_batch_size": 2, "sample_steps": 3})
    pipe = loaders.load_stable_diffusion(cfg)
    policy = Policy.from_config(pipe, cfg.ddpo)
    epochs, ticks = {}, []
    for together, mine in ((1, None), (2, None), (4, None), (4, range(1, 3))):
        cfg.ddpo.sample_call_batches = together
        order, noise = torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)
        epochs[together, mine] = rollout.sample_epoch(
            policy, _brightness, cfg.ddpo, order, noise, lambda: ticks.append(1), mine
        )
        epochs[together, mine].rngs = (order.get_state(), noise.get_state())
    one = epochs[1, None]  # batch by batch, as before sample_call_batches
    assert len(ticks) == 16  # one per batch, sampled or skipped
    for (_, mine), other in epochs.items():
        rows = slice(None) if mine is None else slice(2, 6)
        assert torch.equal(other.prompt_index, one.prompt_index[rows])
        assert all(torch.equal(a, b) for a, b in zip(other.rngs, one.rngs))  # the generators end alike
        # float32 rounding differs between batch sizes (measured: up to 2.2e-5 in latents of size ~1)
        torch.testing.assert_close(other.latents, one.latents[rows], rtol=0, atol=1e-4)
        torch.testing.assert_close(other.log_probs, one.log_probs[rows], rtol=0, atol=1e-4)
        torch.testing.assert_close(other.terms["reward"], one.terms["reward"][rows], rtol=0, atol=1e-4)


def test_cpu_bf16_is_a_recorded_study_setting_and_off_by_default(tiny_cfg):
    cpu = torch.device("cpu")
    assert precision.unet_compute_dtype(cpu, True) == torch.float32
    assert precision.unet_compute_dtype(cpu, True, cpu_bf16=True) == torch.bfloat16
    assert precision.unet_compute_dtype(cpu, False, cpu_bf16=True) == torch.float32
    assert "cpu_bf16" not in run_settings(tiny_cfg.ddpo)  # runs recorded before it still resume
    tiny_cfg.ddpo.cpu_bf16 = True
    assert run_settings(tiny_cfg.ddpo)["cpu_bf16"] is True
    assert "sample_call_batches" not in run_settings(tiny_cfg.ddpo)  # a speed option


def test_the_experiments_options_train_fewer_timesteps_or_without_guidance(tmp_path):
    """tiny: 4 images, 10 steps, all scored in one training pass; guidance doubles the UNet's rows."""
    rows, records = {}, {}
    for name, overrides in (
        ("paper", {}),
        ("fraction", {"timestep_fraction": 0.3}),
        ("unguided", {"train_guidance": False}),
    ):
        cfg = config.load("tiny", ddpo={"sample_batches": 1, **overrides})
        pipe = loaders.load_stable_diffusion(cfg)
        trainer = Trainer(pipe, _brightness, cfg.ddpo, tmp_path / name, progress=False)
        seen = []
        pipe.unet.register_forward_pre_hook(
            lambda unet, args, seen=seen: seen.append(len(args[0])) if unet.training else None
        )
        rows[name], records[name] = trainer.train_epoch(), run_settings(cfg.ddpo)
        assert seen == {"paper": [80], "fraction": [24], "unguided": [40]}[name]
    assert "timestep_fraction" not in records["paper"] and records["fraction"]["timestep_fraction"] == 0.3
    assert records["unguided"]["train_guidance"] is False
    # the stored log-probs are of guided steps: rescored without guidance, the ratio moves away from 1
    # before any update (measured on tiny: clip fraction 0.45, against 0 with guidance)
    assert rows["paper"]["clipfrac"] == 0 and rows["unguided"]["clipfrac"] > 0.2
    assert rows["unguided"]["approx_kl"] > 1e3 * rows["paper"]["approx_kl"]
