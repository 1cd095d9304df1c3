"""The latent search on a small seeded CAN and the tiny CLIP: the shell, the gradient search's gains,
NSGA-II's front checked by brute force, and the gain over random z computed by hand."""

import math

import numpy as np
import pytest
import torch

from clipcreate_lib import config
from clipcreate_lib.models import loaders
from clipcreate_lib.search import evolution, gradient, latent, results
from clipcreate_lib.styles import can


def calibrated(net: torch.nn.Module, batch: torch.Tensor) -> torch.nn.Module:
    """``net`` in eval mode with its BatchNorm statistics set to one batch's, as training would leave
    them (at initialisation, running statistics of 0 and 1 make DCGAN's outputs all but constant)."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0
    with torch.no_grad():
        net.train()(batch)
    return net.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def space():
    torch.manual_seed(0)
    gen = calibrated(can.Generator(64, z_dim=16, channels=16), torch.randn(64, 16))
    with torch.no_grad():
        disc = calibrated(can.Discriminator(64, n_styles=4), gen(torch.randn(64, 16)))
    clip, processor = loaders.load_clip(config.load("tiny"))
    with torch.no_grad():
        texts = latent.clip_space.text_embeddings(["a beautiful painting", "a beautiful landscape"], clip, processor)
    return latent.LatentSpace(gen, disc, clip, processor, texts)


def test_to_shell_keeps_the_direction_and_sets_the_norm_to_sqrt_d():
    z = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]])
    torch.testing.assert_close(latent.to_shell(z), torch.tensor([[1.2, 1.6, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))


def test_realness_loss_is_the_bce_of_the_sigmoid_against_real():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    expected = -torch.log(torch.sigmoid(logits))
    torch.testing.assert_close(latent.realness_loss(logits), expected)


def test_gradient_search_improves_both_objectives_of_every_start_and_stays_on_the_shell(space):
    z0 = gradient.starts(4, space.z_dim, seed=0)
    clip_only = gradient.search(space, z0, query=1, steps=12, lr=0.05, realness_weight=0.0, batch_size=4)
    assert (clip_only.clip > clip_only.clip0).all()
    # the random tiny CLIP's cosine moves about 100 times less than the discriminator's BCE, hence w
    found = gradient.search(space, z0, query=1, steps=12, lr=0.05, realness_weight=0.003, batch_size=4)
    assert (found.clip > found.clip0).all() and (found.real > found.real0).all()
    torch.testing.assert_close(found.z.norm(dim=1), torch.full((4,), math.sqrt(space.z_dim)))
    torch.testing.assert_close(found.z0, z0)
    cosines, real = space.score_all(found.z, 4)  # the scores are the returned z's
    torch.testing.assert_close(found.clip, cosines[:, 1])
    torch.testing.assert_close(found.real, real.sigmoid())
    # the starts do not interact: in chunks of 2 the same search ends in the same z
    chunked = gradient.search(space, z0, query=1, steps=12, lr=0.05, realness_weight=0.003, batch_size=2)
    torch.testing.assert_close(chunked.z, found.z, rtol=1e-4, atol=1e-5)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a dominates b when minimising: no worse in every objective, better in one."""
    return bool((a <= b).all() and (a < b).any())


def test_nsga2_returns_a_front_no_member_of_its_population_dominates(space):
    front = evolution.search(space, query=0, population=8, generations=4, batch_size=8, seed=0)
    f = np.column_stack([-front.clip.numpy(), -np.log(front.real.numpy())])  # both minimised
    pop = np.column_stack([-front.population_clip.numpy(), -np.log(front.population_real.numpy())])
    assert len(f) >= 1
    assert not any(dominates(p, q) for p in np.vstack([f, pop]) for q in f)
    on_front = [not any(dominates(p, q) for p in pop) for q in pop]  # the population's own front, by brute force
    assert sum(on_front) == len(f)
    torch.testing.assert_close(front.z.norm(dim=1), torch.full((len(f),), math.sqrt(space.z_dim)))
    cosines, real = space.score_all(front.z, 8)
    torch.testing.assert_close(front.clip, cosines[:, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(front.real, real.sigmoid(), rtol=1e-4, atol=1e-5)
    again = evolution.search(space, query=0, population=8, generations=4, batch_size=8, seed=0)
    torch.testing.assert_close(again.z, front.z)  # seeded


def test_the_gain_over_random_z_is_the_welch_difference_in_standard_errors():
    searched, rand = torch.tensor([0.5, 0.7, 0.6]), torch.tensor([[0.1], [0.3], [0.2], [0.4]])
    found = {"full": {"queries": ["q"], "gradient": [{"clip": searched}], "random": {"clip": rand}}}
    row = results.gain_over_random(found).iloc[0]
    se = math.sqrt(0.01 / 3 + (0.05 / 3) / 4)  # sample variances 0.01 and 0.0166..., over K = 3 and N = 4
    assert row["gain"] == pytest.approx(0.6 - 0.25) and row["se"] == pytest.approx(se)
    assert row["standard_errors"] == pytest.approx(0.35 / se)
