"""One preprocessing path for centroids and rewards, and that it is CLIP's own preprocessing."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPProcessor

from clipcreate_lib.data import image_io
from clipcreate_lib.models import builders, clip_space, tokenizers


@pytest.fixture(scope="module")
def clip():
    return builders.tiny_clip(0)


def _random_images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def test_matches_the_clip_processor_exactly_when_no_resize_is_needed(clip):
    _, processor = clip
    images = _random_images(3, 32)
    theirs = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    ours = clip_space.clip_pixel_values(image_io.images_as_tensor(images), processor)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_matches_the_clip_processor_closely_when_resizing():
    """At the paper's 224 px from 512 px images, against CLIP's PIL-based processor: the two bicubic
    implementations differ by a fraction of one 8-bit grey level on smooth images."""
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizers.build_tiny_tokenizer())
    y, x = np.mgrid[0:512, 0:640] / 512
    smooth = np.stack([np.sin(3 * x) * 0.5 + 0.5, np.cos(2 * y) * 0.5 + 0.5, x * y / 1.25], -1)
    image = Image.fromarray((smooth * 255).astype(np.uint8))
    theirs = processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    ours = clip_space.clip_pixel_values(image_io.images_as_tensor([image]), processor)
    assert ours.shape == theirs.shape == (1, 3, 224, 224)
    std = torch.tensor(CLIPImageProcessor().image_std).view(1, 3, 1, 1)
    assert ((ours - theirs) * std).abs().max() < 2 / 255


def test_dataset_and_reward_paths_give_the_same_embedding(clip):
    """Centroids embed stored PIL images; the reward embeds decoded tensors in [0, 1]. Same numbers."""
    model, processor = clip
    images = _random_images(4, 64, seed=1)
    decoded = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        from_dataset = clip_space.image_embeddings(image_io.images_as_tensor(images), model, processor)
        from_reward = clip_space.image_embeddings(decoded, model, processor)
    assert torch.equal(from_dataset, from_reward)
    assert torch.allclose(from_dataset.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_skipping_the_rescale_would_change_the_embedding(clip):
    """The reference code's bug (pixels left in 0..255) moves embeddings: our path must not do that."""
    model, processor = clip
    images = image_io.images_as_tensor(_random_images(2, 32, seed=2))
    with torch.inference_mode():
        right = clip_space.image_embeddings(images, model, processor)
        wrong = torch.nn.functional.normalize(
            model.get_image_features(pixel_values=(images * 255 - 0.45) / 0.27).pooler_output, dim=-1
        )
    assert (right - wrong).abs().max() > 1e-2


def test_preprocessing_is_differentiable(clip):
    model, processor = clip
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    clip_space.image_embeddings(images, model, processor).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_bad_image_shape_is_refused(clip):
    _, processor = clip
    with pytest.raises(ValueError, match="Expected images of shape"):
        clip_space.clip_pixel_values(torch.rand(3, 32, 32), processor)


def test_text_embeddings_are_unit_vectors(clip):
    model, processor = clip
    with torch.inference_mode():
        text = clip_space.text_embeddings(["Baroque", "Ukiyo e", "Pop Art"], model, processor)
    assert text.shape == (3, 32)
    assert torch.allclose(text.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_a_texts_embedding_has_the_same_bits_in_any_batch(clip):
    """A reward resumed in a new process refills its cache of prompt embeddings in other batches; the
    embeddings, and so the rewards, must not move by a bit (batched, they moved by ~1e-7)."""
    model, processor = clip
    texts = ["painting", "a drawing of a cat", "art", "Ukiyo e", "Abstract Expressionism"]
    with torch.inference_mode():
        together = clip_space.text_embeddings(texts, model, processor)
        for i, text in enumerate(texts):
            assert torch.equal(clip_space.text_embeddings([text], model, processor)[0], together[i]), text
        assert torch.equal(clip_space.text_embeddings(texts[::-1], model, processor), together.flip(0))
