import numpy as np
import pytest

from clipcreate_lib.config import DataConfig
from clipcreate_lib.data import label_sets, mediums, wikiart
from clipcreate_lib.models import builders
from clipcreate_lib.styles import centroids, text_labels


def _blobs():
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    rng = np.random.default_rng(0)
    points = np.concatenate([c + 0.1 * rng.standard_normal((40, 2)) for c in centres])
    return centres, points.astype(np.float32)


def test_centroids_recover_hand_placed_clusters():
    truth, points = _blobs()
    _, fitted = centroids.sweep(points, [3], seed=0, n_init=4, what="blobs")
    found = fitted[3]
    assert found.shape == (3, 2) and found.dtype == np.float32
    order = [int(np.argmin(np.linalg.norm(found - c, axis=1))) for c in truth]
    assert sorted(order) == [0, 1, 2]
    assert np.abs(found[order] - truth).max() < 0.05


def test_inertia_falls_with_k_and_matches_its_definition():
    _, points = _blobs()
    curve, fitted = centroids.sweep(points, [3, 1, 2, 2], seed=0, n_init=4, what="blobs")
    assert list(curve["k"]) == [1, 2, 3] and sorted(fitted) == [1, 2, 3]
    assert curve["inertia"].is_monotonic_decreasing
    one = ((points - points.mean(0)) ** 2).sum()
    assert curve["inertia"].iloc[0] == pytest.approx(one, rel=1e-4)
    assert np.allclose(fitted[1][0], points.mean(0), atol=1e-4)


def test_k_larger_than_the_data_is_a_clear_error():
    _, points = _blobs()
    with pytest.raises(ValueError, match="full: k = 500 is larger than the 120 images to cluster"):
        centroids.sweep(points, [2, 500], seed=0, n_init=1, what="full")
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        centroids.check_k(0, 120, "full")


@pytest.fixture
def label_set_files(workdir):
    """Two saved label sets of a handful of images each, with notebook 01's provenance."""
    cfg = DataConfig(source="embedded", image_size=32, images_per_style=2)
    full, _ = label_sets.build_full(cfg, "tiny", wikiart.SkipCount())
    chosen = ["Baroque", "Ukiyo_e"]
    label_sets.save_mediums(mediums.mediums_subset(full, chosen), chosen, "word")
    return label_sets.load_label_sets("tiny")


def test_embeddings_and_centroids_round_trip_and_refuse_another_clip_or_dataset(label_set_files):
    clip, processor = builders.tiny_clip(0)
    embeddings, reused = centroids.embed_label_sets(label_set_files, clip, processor, 16, "tiny-seed0")
    assert not reused and embeddings["full"].shape == (54, 32) and embeddings["mediums"].shape == (4, 32)
    rows = [list(label_set_files["full"]["source_index"]).index(i) for i in label_set_files["mediums"]["source_index"]]
    assert np.array_equal(embeddings["mediums"], embeddings["full"][rows])
    assert centroids.embed_label_sets(label_set_files, clip, processor, 16, "tiny-seed0")[1]  # cached
    centres = np.eye(3, 32, dtype=np.float32)
    record = centroids.embeddings_made_from(label_set_files["full"], "tiny-seed0")
    centroids.save("mediums", centres, record, seed=0, n_init=1)
    assert np.array_equal(centroids.load("mediums", "tiny-seed0"), centres)
    with pytest.raises(RuntimeError, match="made for clip 'tiny-seed0', not 'mini-abc'"):
        centroids.load("mediums", "mini-abc")
    with pytest.raises(FileNotFoundError, match="run notebook 02_centroids first"):
        centroids.load("full", "tiny-seed0")
    chosen = ["Cubism", "Ukiyo_e"]  # notebook 01 rerun with other mediums
    label_sets.save_mediums(mediums.mediums_subset(label_set_files["full"], chosen), chosen, "word")
    with pytest.raises(RuntimeError, match=r"another mediums dataset .* \(it differs in mediums\)"):
        centroids.load("mediums", "tiny-seed0")


def test_text_labels_round_trip_with_their_names_in_class_order(label_set_files):
    clip, processor = builders.tiny_clip(0)
    names = label_set_files["full"].features["style"].names
    embedded = text_labels.embed(names, clip, processor)
    assert embedded.shape == (27, 32) and np.allclose(np.linalg.norm(embedded, axis=1), 1, atol=1e-5)
    text_labels.save("full", names, embedded, "tiny-seed0")
    loaded, labels = text_labels.load("full", "tiny-seed0")
    assert labels == names and np.array_equal(loaded, embedded)
    with pytest.raises(RuntimeError, match="made for clip 'tiny-seed0', not 'tiny-seed1'"):
        text_labels.load("full", "tiny-seed1")
