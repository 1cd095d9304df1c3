"""Guidance at sampling time: the one-step gradient against finite differences, EDICT against its
closed-form inverse and plain autograd, the DOODL update by hand, memory flat in the number of steps,
and guided images independent of their batch."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clipcreate_lib import config
from clipcreate_lib.ddpo.policy import decode
from clipcreate_lib.guidance import doodl, edict, onestep
from clipcreate_lib.guidance.denoiser import Denoiser, ddim_update, initial_latents
from clipcreate_lib.guidance.objective import Objective, cutouts
from clipcreate_lib.guidance.pipeline import GuidedPipeline
from clipcreate_lib.models import builders
from clipcreate_lib.styles import classifiers, rewards

PROMPTS = ["painting of a man ", "art of nature ", "drawing of a city"]


def _generators(seeds=(0, 1, 2)):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture(scope="module")
def pipe64():
    return builders.tiny_stable_diffusion(0).to(torch.float64)


@pytest.fixture(scope="module")
def reward():
    """The kmeans-med training reward on the tiny CLIP, with seeded random centroids."""
    clip, processor = builders.tiny_clip(0)
    clip.eval().requires_grad_(False)
    centroids = torch.nn.functional.normalize(torch.randn(10, 32, generator=torch.Generator().manual_seed(1)), dim=-1)
    return rewards.differentiable_reward_fn(classifiers.kmeans(centroids), clip, processor, config.RewardConfig())


def _decode64(pipe, latents):
    """policy.decode without its float32 cast, so finite differences see float64 throughout."""
    return pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample / 2 + 0.5


def test_the_differentiable_reward_gives_the_training_rewards_numbers(reward):
    clip, processor = builders.tiny_clip(0)
    centroids = torch.nn.functional.normalize(torch.randn(10, 32, generator=torch.Generator().manual_seed(1)), dim=-1)
    frozen = rewards.reward_fn(classifiers.kmeans(centroids), clip, processor, config.RewardConfig())
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2), requires_grad=True)
    kept, plain = reward(images, PROMPTS), frozen(images, PROMPTS)
    for key in ("reward", "ambiguity", "utility"):
        torch.testing.assert_close(kept[key], plain[key])
    assert kept["reward"].requires_grad and not plain["reward"].requires_grad


def test_the_one_step_gradient_matches_central_differences(pipe64):
    # A smooth float64 objective of the decoded x0 estimate, so the differences are exact to ~1e-9.
    denoiser = Denoiser(pipe64, PROMPTS[:2], 7.5, 4)
    x = initial_latents(pipe64, _generators((0, 1))).double()
    t = denoiser.timesteps[1]
    objective = lambda images: torch.sin(3 * images).mean(dim=(1, 2, 3))  # noqa: E731
    _, _, grad = onestep.reward_gradient(denoiser, objective, lambda z: _decode64(pipe64, z), x, t)
    direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    h = 1e-5

    def total(z):
        with torch.no_grad():
            return objective(_decode64(pipe64, denoiser.noise(z, t)[1])).sum()

    numeric = (total(x + h * direction) - total(x - h * direction)) / (2 * h)
    assert (grad * direction).sum().item() == pytest.approx(numeric.item(), rel=1e-5)
    assert grad[0].abs().sum() > 0  # a gradient that moved nothing would pass the comparison trivially


def test_the_guided_step_shifts_epsilon_by_the_scaled_gradient(pipe64, reward):
    denoiser = Denoiser(pipe64, PROMPTS[:1], 7.5, 1)  # one DDIM step: x_0 = the guided update of x_T
    x = initial_latents(pipe64, _generators((0,))).double()
    t = denoiser.timesteps[0]
    objective, dec = Objective(reward, PROMPTS[:1]), lambda z: decode(pipe64, z)
    eps, _, grad = onestep.reward_gradient(denoiser, objective, dec, x, t)
    a_t, a_prev = denoiser.alphas(t, x)
    guided = eps - 50.0 * (1 - a_t).sqrt() * grad
    expected = ddim_update((x - (1 - a_t).sqrt() * guided) / a_t.sqrt(), guided, a_prev)
    torch.testing.assert_close(onestep.sample(denoiser, objective, dec, x, 50.0), expected)
    assert not torch.allclose(expected, onestep.sample(denoiser, objective, dec, x, 0.0))


def test_a_normalised_gradient_has_unit_rms_per_image():
    grad = torch.tensor([[[3.0, 4.0]], [[0.0, 0.0]], [[1e-6, 0.0]]])
    # by hand: rms of (3, 4) = 5 / sqrt(2), of (1e-6, 0) = 1e-6 / sqrt(2); a zero row stays zero
    expected = torch.tensor([[[0.6, 0.8]], [[0.0, 0.0]], [[1.0, 0.0]]]) * 2**0.5
    torch.testing.assert_close(onestep.unit_rms(grad), expected)


def test_the_normalised_guided_step_and_the_unguided_tail(pipe64, reward):
    denoiser = Denoiser(pipe64, PROMPTS[:2], 7.5, 2)
    x = initial_latents(pipe64, _generators((0, 1))).double()
    objective, dec = Objective(reward, PROMPTS[:2]), lambda z: decode(pipe64, z)
    t0, t1 = denoiser.timesteps
    eps, _, grad = onestep.reward_gradient(denoiser, objective, dec, x, t0)
    a_t, a_prev = denoiser.alphas(t0, x)
    rms = grad.flatten(1).pow(2).mean(dim=1).sqrt().view(-1, 1, 1, 1)
    guided = eps - 0.2 * (1 - a_t).sqrt() * grad / rms  # each image's step is 0.2 sqrt(1 - a_t) in rms
    x1 = ddim_update((x - (1 - a_t).sqrt() * guided) / a_t.sqrt(), guided, a_prev)
    eps1, x0 = denoiser.noise(x1, t1)  # the second step unguided
    expected = ddim_update(x0, eps1, tuple(denoiser.alphas(t1, x1))[1])
    torch.testing.assert_close(onestep.sample(denoiser, objective, dec, x, 0.2, True, 1), expected)
    plain = onestep.sample(denoiser, objective, dec, x, 0.0)
    torch.testing.assert_close(onestep.sample(denoiser, objective, dec, x, 0.2, True, 0), plain)
    assert not torch.allclose(expected, plain)


def test_edict_coefficients_are_the_ddim_step(pipe64):
    denoiser = Denoiser(pipe64, PROMPTS[:1], 1.0, 10)
    x, eps = torch.randn(2, 4, 2, 2, dtype=torch.float64), torch.randn(2, 4, 2, 2, dtype=torch.float64)
    for t in denoiser.timesteps[[0, 5, 9]]:
        a, b = edict.coefficients(denoiser, t, x)
        a_t, a_prev = denoiser.alphas(t, x)
        torch.testing.assert_close(a * x + b * eps, ddim_update((x - (1 - a_t).sqrt() * eps) / a_t.sqrt(), eps, a_prev))


def test_an_edict_chain_run_forward_then_inverted_returns_x_t(pipe64):
    denoiser = Denoiser(pipe64, PROMPTS[:2], 7.5, 6)
    z = initial_latents(pipe64, _generators((0, 1))).double()
    x, y = edict.chain(denoiser, z, z, 0.93)
    assert (x - z).abs().max() > 1  # the chain moved far ...
    back_x, back_y = edict.invert(denoiser, x, y, 0.93)
    assert (back_x - z).abs().max() < 1e-4 and (back_y - z).abs().max() < 1e-4  # ... and came back exactly
    one_x, one_y = edict.inverse_step(
        denoiser, *edict.step(denoiser, z, 0.5 * z, denoiser.timesteps[3], 0.93), denoiser.timesteps[3], 0.93
    )
    torch.testing.assert_close((one_x, one_y), (z, 0.5 * z), rtol=0, atol=1e-10)


def test_the_reversible_gradient_equals_autograd_through_the_stored_chain(pipe64):
    denoiser = Denoiser(pipe64, PROMPTS[:2], 7.5, 3)
    z = initial_latents(pipe64, _generators((0, 1))).double()

    def loss(x, y):
        return torch.sin(_decode64(pipe64, x)).mean(dim=(1, 2, 3)) + _decode64(pipe64, y).pow(2).mean(dim=(1, 2, 3))

    value, grad, _ = edict.chain_gradient(denoiser, z, loss, 0.93)
    with torch.enable_grad():
        start = z.clone().requires_grad_(True)
        x, y = start, start
        for t in denoiser.timesteps:
            x, y = edict.step(denoiser, x, y, t, 0.93)
        stored = loss(x, y)
        (expected,) = torch.autograd.grad(stored.sum(), start)
    torch.testing.assert_close(value, stored.detach())
    torch.testing.assert_close(grad, expected, rtol=1e-7, atol=1e-10)


def test_the_doodl_update_clips_keeps_momentum_and_stays_on_the_shell():
    s = doodl.Settings(steps=1, lr=2.0, clip=0.1, momentum=0.9, perturbation=0.01, mixing=0.93)
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    grad = torch.tensor([[1.0, -0.01], [0.02, -5.0]])
    velocity, noise = torch.tensor([[0.5, 0.0], [0.0, 0.0]]), torch.tensor([[1.0, 1.0], [-1.0, 0.0]])
    new, v = doodl.update(z, grad, velocity, torch.tensor([5.0, 2.0]), s, noise)
    # by hand: step = clip(2 * grad, +-0.1) = [[0.1, -0.02], [0.04, -0.1]]; v = 0.9 * velocity + step
    torch.testing.assert_close(v, torch.tensor([[0.55, -0.02], [0.04, -0.1]]))
    moved = torch.tensor([[3.56, 3.99], [0.03, 1.9]])  # z + v + 0.01 * noise
    torch.testing.assert_close(new, moved * torch.tensor([[5.0], [2.0]]) / moved.norm(dim=1, keepdim=True))
    torch.testing.assert_close(new.norm(dim=1), torch.tensor([5.0, 2.0]))


def test_a_scaled_doodl_step_scales_each_rows_clipped_step():
    s = doodl.Settings(steps=1, lr=2.0, clip=0.1, momentum=0.9, perturbation=0.0, mixing=0.93)
    z, grad = torch.tensor([[3.0, 4.0], [0.0, 2.0]]), torch.tensor([[1.0, -0.01], [0.02, -5.0]])
    _, v = doodl.update(z, grad, torch.zeros_like(z), torch.ones(2), s, torch.zeros_like(z), torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(v, torch.tensor([[0.05, -0.01], [0.04, -0.1]]))  # clip(2 grad, +-0.1) * scale


def _toy_chain(monkeypatch, target):
    """A chain that returns its start (x_0 = x_T = z) and the reward -|z - target|^2 per row, so DOODL's
    steps can be followed by hand."""

    def chain_gradient(denoiser, z, loss, p):
        z = z.detach().requires_grad_(True)
        value = loss(z, z)
        return value.detach(), torch.autograd.grad(value.sum(), z)[0], z.detach()

    monkeypatch.setattr(edict, "chain_gradient", chain_gradient)
    monkeypatch.setattr(edict, "chain", lambda denoiser, x, y, p: (x, y))
    return lambda z: -((z - target) ** 2).sum(dim=1)


def test_backtracking_doodl_halves_an_overshooting_step_and_keeps_the_best_point(monkeypatch):
    # Row 0's target is far along the shell, so both sign steps of 0.3 climb; row 1's is near, so the
    # first step overshoots it.
    reward = _toy_chain(monkeypatch, torch.tensor([[0.0, 1.0], [0.98, 0.199]]))
    z0, norm = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.ones(2)
    s = doodl.Settings(steps=2, lr=1e3, clip=0.3, momentum=0.9, perturbation=0.0, mixing=0.93)

    def optimise(settings):
        return doodl.optimise(None, reward, lambda x: x, z0, settings, _generators((0, 1)))

    fixed, backtracked = optimise(s), optimise(dataclasses.replace(s, backtrack=True))
    grad0, zero = -2 * (z0 - torch.tensor([[0.0, 1.0], [0.98, 0.199]])), torch.zeros_like(z0)
    z1, _ = doodl.update(z0, grad0, zero, norm, s, zero)
    assert reward(z1)[0] > reward(z0)[0] and reward(z1)[1] < reward(z0)[1]  # the premise: row 1 overshoots
    torch.testing.assert_close(backtracked[0], fixed[0], rtol=0, atol=0)  # a climbing row takes every step
    z2, _ = doodl.update(z0, grad0, zero, norm, s, zero, 0.5)  # row 1: back at z0, half the step, no momentum
    torch.testing.assert_close(backtracked[1], z2[1] if reward(z2)[1] >= reward(z0)[1] else z0[1])
    assert reward(backtracked)[1] > max(reward(z0)[1], reward(fixed)[1])


def test_crops_lie_in_the_image_and_have_clips_size():
    image = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    crops = cutouts(image, 16, 32, 0.3, torch.Generator().manual_seed(1))
    assert crops.shape == (16, 3, 32, 32)
    torch.testing.assert_close(crops, cutouts(image, 16, 32, 0.3, torch.Generator().manual_seed(1)))
    small = torch.rand(3, 32, 32)
    torch.testing.assert_close(cutouts(small, 2, 32, 0.3, torch.Generator()), torch.stack([small, small]))


def test_memory_stays_flat_from_5_to_20_steps():
    probe = Path(__file__).with_name("memory_probe.py")
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, check=True).stdout
    peaks = json.loads(out.strip().splitlines()[-1])
    assert peaks["reversible_20"] - peaks["reversible_5"] < 20, peaks  # MiB: the states are rebuilt, not stored
    assert peaks["stored_20"] - peaks["reversible_20"] > 80, peaks  # the same chain's stored graph shows


@pytest.mark.parametrize("method", ["onestep", "doodl"])
def test_a_guided_image_is_the_same_in_any_batch(reward, method):
    pipe = builders.tiny_stable_diffusion(0)
    settings = dataclasses.replace(config.load("tiny").guidance, doodl_steps=1, doodl_lr=1e3, doodl_clip=0.05)
    guided = GuidedPipeline(pipe, method, reward, settings, 32)
    together = guided.images(PROMPTS, 2, 7.5, _generators())
    alone = torch.cat([guided.images([p], 2, 7.5, _generators((i,))) for i, p in enumerate(PROMPTS)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    unguided = GuidedPipeline(pipe, "onestep", None, dataclasses.replace(settings, onestep_scale=0.0), 32)
    assert (together - unguided.images(PROMPTS, 2, 7.5, _generators())).abs().max() > 1e-3  # guidance moved them
