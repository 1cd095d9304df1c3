"""The three style classifiers: hand-placed centroids, CLIP's own logits, a discriminator in eval mode."""

import json
import math

import numpy as np
import pytest
import torch

from clipcreate_lib import artifacts, config, paths
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import can, classifiers


def test_kmeans_logits_are_inverse_distances_to_hand_placed_centroids():
    centroids = torch.tensor([[0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
    emb = torch.tensor([[1.0, 0.0]])
    # distances: sqrt(2), 2, sqrt(0.16 + 0.64) = sqrt(0.8)
    expected = torch.tensor([[1 / math.sqrt(2), 1 / 2, 1 / math.sqrt(0.8)]])
    torch.testing.assert_close(classifiers.kmeans(centroids)(None, emb), expected)
    torch.testing.assert_close(classifiers.kmeans(centroids, temperature=0.25)(None, emb), expected * 4)
    with pytest.raises(ValueError, match="temperature must be positive"):
        classifiers.kmeans(centroids, temperature=0)


def test_text_logits_equal_clips_own_logits_per_image():
    clip, processor = loaders.load_clip(config.load("tiny"))
    labels = ["Baroque", "Pop Art", "Cubism"]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        classifier = classifiers.text(clip_space.text_embeddings(labels, clip, processor), clip.logit_scale, labels)
        ours = classifier(images, clip_space.image_embeddings(images, clip, processor))
        tokens = processor.tokenizer(labels, padding=True, return_tensors="pt")
        pixels = clip_space.clip_pixel_values(images, processor)
        theirs = clip(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, pixel_values=pixels
        ).logits_per_image
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


class _StochasticDisc(torch.nn.Module):
    """BatchNorm and Dropout, like the CAN discriminator: in training mode a batch changes each image's logits."""

    image_size = 8

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.BatchNorm2d(3)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(3 * 8 * 8, 4)
        self.seen_range = None

    def forward(self, x):
        self.seen_range = (float(x.min()), float(x.max()))
        h = self.drop(self.norm(x)).flatten(1)
        return h.sum(1), self.head(h)


def test_disc_logits_are_deterministic_and_read_minus_one_to_one():
    torch.manual_seed(0)
    disc = _StochasticDisc()
    disc.train()
    classifier = classifiers.disc(disc, ["a", "b", "c", "d"])
    image = torch.rand(1, 3, 16, 16)
    batch_a = torch.cat([image, torch.rand(3, 3, 16, 16)])
    batch_b = torch.cat([torch.zeros(5, 3, 16, 16), image])
    with torch.no_grad():
        first, second = classifier(batch_a, None)[0], classifier(batch_b, None)[-1]
    torch.testing.assert_close(first, second, rtol=0, atol=1e-6)
    assert not disc.training
    with torch.no_grad():
        classifier(torch.ones(1, 3, 8, 8), None)
    assert disc.seen_range == (1.0, 1.0)
    with torch.no_grad():
        classifier(torch.zeros(1, 3, 8, 8), None)
    assert disc.seen_range == (-1.0, -1.0)


def test_model_names_split_into_kind_and_dataset():
    assert classifiers.split_model_name("kmeans-med") == ("kmeans", "mediums")
    assert classifiers.split_model_name("disc-full") == ("disc", "full")
    with pytest.raises(ValueError, match="is not <disc|clip|kmeans>"):
        classifiers.split_model_name("text-full")


def test_load_reads_notebook_02s_files_and_checks_their_clip_and_dataset(workdir):
    cfg = config.load("tiny")
    clip, _ = loaders.load_clip(cfg)
    with pytest.raises(FileNotFoundError, match="run notebook 02_centroids"):
        classifiers.load("kmeans", "full", cfg, clip)
    data = {"profile": "tiny", "source": "embedded"}
    artifacts.mark_made_from(paths.dataset_dir("full"), data)
    centroids = np.eye(3, 32, dtype=np.float32)
    artifacts.save_npy(paths.centroids_file("full"), centroids)
    artifacts.mark_made_from(paths.centroids_file("full"), {"clip": "tiny-seed0"})
    with pytest.raises(RuntimeError, match="does not record the dataset it was made from"):
        classifiers.load("kmeans", "full", cfg, clip)
    artifacts.mark_made_from(paths.centroids_file("full"), {"clip": "tiny-seed0", "data": data})
    artifacts.save_npy(paths.text_embeddings_file("full"), centroids)
    artifacts.mark_made_from(paths.text_embeddings_file("full"), {"clip": "tiny-seed1", "data": data})
    artifacts.save_json(paths.labels_file("full"), ["A", "B", "C"])
    kmeans = classifiers.load("kmeans", "full", cfg, clip)
    torch.testing.assert_close(
        kmeans(None, torch.from_numpy(centroids[:1]) * 2), torch.tensor([[1.0, 1 / 5**0.5, 1 / 5**0.5]])
    )
    with pytest.raises(RuntimeError, match="made for clip 'tiny-seed1', not 'tiny-seed0'"):
        classifiers.load("clip", "full", cfg, clip)
    artifacts.mark_made_from(paths.text_embeddings_file("full"), {"clip": "tiny-seed0", "data": data})
    assert classifiers.load("clip", "full", cfg, clip).labels == json.loads(paths.labels_file("full").read_text())
    assert classifiers.load("text", "full", cfg, clip).kind == "clip"  # the paper's name for it
    artifacts.mark_made_from(paths.dataset_dir("full"), {**data, "mediums": ["Ukiyo_e"]})  # notebook 01 rerun
    for kind in ("kmeans", "clip"):
        with pytest.raises(
            RuntimeError,
            match=r"made from another full dataset than .* holds now \(it differs in "
            r"mediums\); rerun notebook 02_centroids",
        ):
            classifiers.load(kind, "full", cfg, clip)


def test_load_checks_the_discriminators_profile_and_dataset(workdir):
    cfg = config.load("tiny")
    clip, _ = loaders.load_clip(cfg)
    data = {"profile": "tiny", "source": "embedded", "mediums": ["Ukiyo_e", "Cubism"]}
    artifacts.mark_made_from(paths.dataset_dir("mediums"), data)
    target = can.save_discriminator(
        paths.can_discriminator_file("mediums"), can.Discriminator(64, 2), ["Ukiyo_e", "Cubism"]
    )
    artifacts.mark_made_from(target, {"profile": "tiny", "data": data})
    assert classifiers.load("disc", "mediums", cfg, clip).labels == ["Ukiyo_e", "Cubism"]
    artifacts.mark_made_from(target, {"profile": "mini", "data": data})
    with pytest.raises(RuntimeError, match="made for profile 'mini', not 'tiny'; rerun notebook 03_can"):
        classifiers.load("disc", "mediums", cfg, clip)
    artifacts.mark_made_from(target, {"profile": "tiny", "data": {**data, "mediums": ["Cubism", "Ukiyo_e"]}})
    with pytest.raises(
        RuntimeError, match=r"another mediums dataset .* \(it differs in mediums\); rerun notebook 03_can"
    ):
        classifiers.load("disc", "mediums", cfg, clip)
