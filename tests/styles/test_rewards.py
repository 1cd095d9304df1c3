"""The reward's math against hand-derived values, and the reward factory's terms."""

import math

import pytest
import torch

from clipcreate_lib import config
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers, rewards


def test_ambiguity_is_minus_log_n_at_the_uniform_point():
    for n in (2, 10, 27):
        for logits in (torch.zeros(1, n), torch.full((1, n), 7.5)):
            assert rewards.style_ambiguity(logits).item() == pytest.approx(-math.log(n), abs=1e-6)


def test_ambiguity_of_a_known_vector():
    # softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]; the mean of the logs is -(ln 6 + ln 3 + ln 2) / 3 = -(2/3) ln 6
    logits = torch.tensor([[0.0, math.log(2), math.log(3)]])
    assert rewards.style_ambiguity(logits).item() == pytest.approx(-2 / 3 * math.log(6), abs=1e-6)


def test_ambiguity_equals_minus_cross_entropy_against_the_uniform_target():
    logits = torch.randn(5, 27, generator=torch.Generator().manual_seed(0)) * 3
    uniform = torch.full_like(logits, 1 / 27)
    expected = -torch.nn.CrossEntropyLoss(reduction="none")(logits, uniform)  # the reference code's computation
    torch.testing.assert_close(rewards.style_ambiguity(logits), expected)
    assert (rewards.style_ambiguity(logits) < -math.log(27)).all()  # uniform is the maximum


def test_utility_is_the_plain_cosine():
    image = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    prompt = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    torch.testing.assert_close(rewards.utility(image, prompt), torch.tensor([1 / math.sqrt(2), -1.0]))


@pytest.fixture(scope="module")
def tiny_clip():
    return loaders.load_clip(config.load("tiny"))


def _fixed_classifier(n):
    """Logits that depend on the image: its mean brightness times a class ramp."""
    return classifiers.StyleClassifier(
        "fixed", [str(i) for i in range(n)], lambda images, emb: images.mean(dim=(1, 2, 3))[:, None] * torch.arange(n)
    )


def test_reward_fn_returns_every_term_and_the_weighted_total(tiny_clip):
    clip, processor = tiny_clip
    weights = config.RewardConfig(novelty_weight=1.0, utility_weight=0.25)
    fn = rewards.reward_fn(_fixed_classifier(4), clip, processor, weights)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    prompts = ["painting", "art", "painting"]
    terms = fn(images, prompts)
    assert set(terms) == {"reward", "ambiguity", "utility"}
    with torch.no_grad():
        emb = clip_space.image_embeddings(images, clip, processor)
        text = clip_space.text_embeddings(prompts, clip, processor)
    expected_amb = torch.log_softmax(images.mean(dim=(1, 2, 3))[:, None] * torch.arange(4), -1).mean(-1)
    torch.testing.assert_close(terms["ambiguity"], expected_amb)
    torch.testing.assert_close(terms["utility"], (emb * text).sum(-1))
    torch.testing.assert_close(terms["reward"], expected_amb + 0.25 * (emb * text).sum(-1))


def test_image_reward_is_added_only_when_asked(tiny_clip):
    clip, processor = tiny_clip
    with pytest.raises(ValueError, match="ImageReward scorer must be given"):
        rewards.reward_fn(_fixed_classifier(3), clip, processor, config.RewardConfig(image_reward_weight=1.0))
    scorer = lambda images, prompts: torch.full((len(images),), 2.0)  # noqa: E731
    plain = rewards.reward_fn(_fixed_classifier(3), clip, processor, config.RewardConfig())
    with_ir = rewards.reward_fn(
        _fixed_classifier(3), clip, processor, config.RewardConfig(image_reward_weight=0.5), image_reward=scorer
    )
    images = torch.rand(2, 3, 32, 32)
    a, b = plain(images, ["art", "art"]), with_ir(images, ["art", "art"])
    assert "image_reward" not in a
    torch.testing.assert_close(b["reward"], a["reward"] + 0.5 * 2.0)


def test_reward_fn_rejects_mismatched_prompts(tiny_clip):
    fn = rewards.reward_fn(_fixed_classifier(3), *tiny_clip, config.RewardConfig())
    with pytest.raises(ValueError, match="2 images but 1 prompts"):
        fn(torch.rand(2, 3, 32, 32), ["art"])


def test_kmeans_temperature_sweep_by_hand():
    centroids = torch.tensor([[0.0, 0.0], [0.0, 1.5]])
    embedding = torch.tensor([[0.0, 0.5]])  # distances 0.5 and 1: logits 2/T and 1/T
    rows = rewards.kmeans_temperature_sweep(embedding, centroids, [1.0, 0.5])
    for row, gap in zip(rows, (1.0, 2.0)):  # the two logits differ by 1/T
        p = 1 / (1 + math.exp(-gap))
        assert row["top_probability"] == pytest.approx(p)
        assert row["ambiguity"] == pytest.approx((math.log(p) + math.log(1 - p)) / 2)
        assert row["normalised_entropy"] == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2))
    assert rows[0]["normalised_entropy"] > rows[1]["normalised_entropy"]  # a lower temperature is sharper
