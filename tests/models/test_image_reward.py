"""The ImageReward port and the MLP head it shares with the AVA aesthetic predictor.

``fixtures/imagereward_tiny.pt`` was made by running the original ImageReward code at a tiny size
with seeded weights: its state dict under the released checkpoint's names, preprocessed inputs, and
the original code's scores (``fixtures/README.md`` says what it holds).
"""

from pathlib import Path

import pytest
import torch
from transformers import BertTokenizer

from clipcreate_lib import config
from clipcreate_lib.models import image_reward, loaders

FIXTURE = Path(__file__).parent / "fixtures" / "imagereward_tiny.pt"


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=False)


def test_the_key_mapping_reproduces_the_original_codes_scores(fixture):
    assert (
        fixture["size"]["v_hidden"] == image_reward.TINY.vision_width
        and fixture["size"]["vocab"] == image_reward.TINY.vocab_size
    )
    model = image_reward.load_checkpoint(image_reward.ImageReward(image_reward.TINY), fixture["state_dict"]).eval()
    with torch.no_grad():
        scores = model(fixture["px"], fixture["ids"], fixture["mask"])
    torch.testing.assert_close(scores, fixture["expected"], atol=1e-4, rtol=0)


def test_every_used_key_of_the_released_checkpoint_has_a_home_at_full_size(fixture):
    # The released ImageReward.pt has 625 tensors; vision_proj, text_proj (weight and bias each) and
    # the text position_ids are unused, so the full-size model must hold exactly 620.
    with torch.device("meta"):
        full = image_reward.ImageReward(image_reward.FULL)
    assert len(full.state_dict()) == 625 - 5
    assert len(image_reward.map_checkpoint(fixture["state_dict"])) == len(fixture["state_dict"]) - 5 == 96
    assert full.text.config.encoder_hidden_size == 1024 and full.vision.config.layer_norm_eps == 1e-6


def test_a_checkpoint_that_does_not_fit_is_refused_by_name(fixture):
    state = dict(fixture["state_dict"])
    del state["mlp.layers.7.bias"]
    with pytest.raises(ValueError, match="missing .*mlp.layers.7.bias"):
        image_reward.load_checkpoint(image_reward.ImageReward(image_reward.TINY), state)
    with pytest.raises(KeyError, match="Unexpected key 'blip.itm_head.weight'"):
        image_reward.map_checkpoint({**fixture["state_dict"], "blip.itm_head.weight": torch.zeros(1)})


def test_the_scorer_batches_without_changing_scores_and_preprocesses_like_the_original(fixture):
    tokenizer = image_reward.prepare_tokenizer(_word_tokenizer(123))
    model = image_reward.load_checkpoint(image_reward.ImageReward(image_reward.TINY), fixture["state_dict"])
    images = torch.rand(5, 3, 48, 64)
    prompts = ["painting of a man ", "art", "drawing of nature ", "art of a city", "painting "]
    one, all_ = image_reward.Scorer(model, tokenizer, batch_size=1), image_reward.Scorer(model, tokenizer, batch_size=5)
    torch.testing.assert_close(one(images, prompts), all_(images, prompts), atol=1e-5, rtol=1e-5)
    # Resize the short side to 32 and crop the center 32 x 32, then CLIP's mean and std.
    pixels = model.pixel_values(torch.full((1, 3, 40, 40), 0.5))
    expected = (0.5 - torch.tensor(image_reward.PIXEL_MEAN)) / torch.tensor(image_reward.PIXEL_STD)
    assert pixels.shape == (1, 3, 32, 32)
    torch.testing.assert_close(pixels[0, :, 7, 9], expected)
    with pytest.raises(ValueError, match="5 images but 4 prompts"):
        all_(images, prompts[:4])


def test_the_paper_profile_loads_released_format_files_from_local_paths(fixture, tmp_path, monkeypatch):
    """The paper path (file lookup, weights-only load, key mapping, tokenizer check) at the fixture's size."""
    torch.save(fixture["state_dict"], tmp_path / "ImageReward.pt")
    _word_tokenizer(123).save_pretrained(tmp_path / "bert")
    monkeypatch.setattr(image_reward, "FULL", image_reward.TINY)  # the loader's architecture, at the fixture's size
    cfg = config.load(
        "paper",
        models={"image_reward": str(tmp_path), "image_reward_tokenizer": str(tmp_path / "bert"), "device": "cpu"},
    )
    scorer = loaders.load_image_reward(cfg, batch_size=2)
    with torch.no_grad():
        scores = scorer.model(fixture["px"], fixture["ids"], fixture["mask"])
    torch.testing.assert_close(scores, fixture["expected"], atol=1e-4, rtol=0)
    assert scorer(torch.rand(3, 3, 32, 32), ["a", "b", "c"]).shape == (3,)
    # Offline, transformers returns an almost empty tokenizer instead of failing: that is refused.
    _word_tokenizer(5).save_pretrained(tmp_path / "bert")
    with pytest.raises(loaders.ModelUnavailableError, match="has 12 tokens, not the 30,524 of bert-base-uncased"):
        loaders.load_image_reward(cfg)


def test_the_score_head_is_the_released_affine_stack():
    head = image_reward.ScoreHead(4).eval()
    assert [k for k in head.state_dict()][::2] == [f"layers.{i}.weight" for i in (0, 2, 4, 6, 7)]
    # By hand: weights 1/fan_in make every layer output the mean of its input, so the head returns
    # mean(x) + the last bias, whatever the hidden widths.
    with torch.no_grad():
        for layer in head.layers:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.fill_(1 / layer.in_features)
                layer.bias.zero_()
        head.layers[7].bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 0.0, -4.0]])
    torch.testing.assert_close(head(x), torch.tensor([3.5, -0.5]))
    # Random weights: no activations, so the head equals the product of its affine maps.
    torch.manual_seed(0)
    head = image_reward.ScoreHead(8).eval()
    linears = [m for m in head.layers if isinstance(m, torch.nn.Linear)]
    x = torch.randn(3, 8, dtype=torch.float64)
    y = x
    for m in linears:
        y = y @ m.weight.double().T + m.bias.double()
    torch.testing.assert_close(head.double()(x), y.squeeze(-1))


def test_the_aesthetic_head_loads_a_local_file_and_refuses_the_wrong_clip(tmp_path):
    cfg = config.load("tiny")
    clip, _ = loaders.load_clip(cfg)
    head = loaders.load_aesthetic(cfg, clip)
    assert not head.training and head(torch.randn(2, 32)).shape == (2,)
    torch.save(image_reward.ScoreHead(768).state_dict(), tmp_path / "aesthetic-model.pth")
    paper = config.load("paper", models={"aesthetic": str(tmp_path), "device": "cpu"})
    with pytest.raises(ValueError, match="expects 768-d CLIP embeddings but .* gives 32-d"):
        loaders.load_aesthetic(paper, clip)
    saved = image_reward.ScoreHead(32).state_dict()
    torch.save(saved, tmp_path / "aesthetic-model.pth")
    loaded = loaders.load_aesthetic(paper, clip)
    torch.testing.assert_close(loaded.state_dict()["layers.7.bias"], saved["layers.7.bias"])


def _word_tokenizer(n_words: int) -> BertTokenizer:
    """A BERT WordPiece tokenizer with the five BERT specials and ``n_words`` made-up words."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(n_words)]
    return BertTokenizer(vocab=dict(zip(vocab, range(len(vocab)))))
