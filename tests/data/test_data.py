import dataclasses
import io

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipcreate_lib import artifacts, paths
from clipcreate_lib.data import captioning, embedded, image_io, label_sets, mediums, wikiart
from clipcreate_lib.models import builders


@pytest.fixture
def small_data_cfg(tiny_cfg):
    return dataclasses.replace(tiny_cfg.data, images_per_style=6, image_size=32)


# --- the embedded dataset ----------------------------------------------------------------------------
def test_embedded_dataset_is_deterministic(small_data_cfg):
    first = [(r.index, r.style, r.image.tobytes()) for r in embedded.iter_embedded(small_data_cfg)]
    second = [(r.index, r.style, r.image.tobytes()) for r in embedded.iter_embedded(small_data_cfg)]
    assert first == second
    assert embedded.embedded_captions(small_data_cfg) == embedded.embedded_captions(small_data_cfg)
    assert len(first) == 27 * 6 == len(embedded.embedded_captions(small_data_cfg))
    assert [s for _, s, _ in first[::6]] == list(wikiart.WIKIART_STYLES)
    other = dataclasses.replace(small_data_cfg, seed=1)
    assert [r.image.tobytes() for r in embedded.iter_embedded(other)] != [b for _, _, b in first]


def test_embedded_styles_are_visually_distinct(small_data_cfg):
    """A nearest-mean classifier on raw pixels tells the 27 styles apart on held-out images."""
    cfg = dataclasses.replace(small_data_cfg, images_per_style=10)
    records = list(embedded.iter_embedded(cfg))
    x = np.stack([np.asarray(r.image, dtype=np.float32).ravel() / 255 for r in records])
    # Colour histograms per channel: a texture-agnostic summary that still separates palettes.
    hist = np.stack([np.concatenate([np.histogram(v[c::3], bins=8, range=(0, 1))[0] for c in range(3)]) for v in x])
    y = np.array([wikiart.WIKIART_STYLES.index(r.style) for r in records])
    train, test = (np.arange(len(y)) % 10) < 6, (np.arange(len(y)) % 10) >= 6
    means = np.stack([hist[train & (y == s)].mean(0) for s in range(27)])
    predicted = np.argmin(((hist[test][:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == y[test]).mean() > 0.9


def test_embedded_captions_follow_the_drawn_subject_colour(small_data_cfg):
    records = list(embedded.iter_embedded(small_data_cfg))
    captions = embedded.embedded_captions(small_data_cfg)
    assert all(c.split(" of ")[1].split()[1] in embedded.COLORS for c in captions)
    assert any("by an artist" in c for c in captions)
    assert len(records) == len(captions)


# --- mediums selection on a hand-made caption table ------------------------------------------------
WORDS = ["painting", "drawing", "art"]


@pytest.mark.parametrize(
    "caption, word, substring",
    [
        ("a painting of a man", True, True),
        ("A Drawing of a cat", True, True),
        ("modern art.", True, True),
        ("a portrait by an artist", False, True),  # the reference code's substring match counts "artist"
        ("people at a party", False, True),
        ("three paintings on a wall", False, True),  # a plural is not the word
        ("a photo of a city", False, False),
    ],
)
def test_mentions_medium(caption, word, substring):
    assert mediums.mentions_medium(caption, WORDS, "word") is word
    assert mediums.mentions_medium(caption, WORDS, "substring") is substring


def test_select_mediums_on_a_hand_made_table():
    table = pd.DataFrame(
        {
            "style": ["A"] * 4 + ["B"] * 4 + ["C"] * 4 + ["D"] * 2,
            "caption": [
                "a painting",
                "a painting",
                "a photo",
                "a photo",  # A: 2/4 by word
                "by an artist",
                "by an artist",
                "by an artist",
                "art",  # B: 1/4 word, 4/4 substring
                "a drawing",
                "a drawing",
                "a drawing",
                "a photo",  # C: 3/4 either way
                "art",
                "a photo",
            ],  # D: 1/2 either way
        }
    )
    by_word = mediums.medium_fractions(table, WORDS, "word")
    assert by_word.set_index("style")["fraction"].to_dict() == {"A": 0.5, "B": 0.25, "C": 0.75, "D": 0.5}
    assert list(by_word["style"]) == ["C", "A", "D", "B"]  # ties (A, D) broken by name
    assert by_word.set_index("style")["n_images"].to_dict() == {"A": 4, "B": 4, "C": 4, "D": 2}
    assert mediums.select_mediums(by_word, 2) == ["A", "C"]
    by_substring = mediums.medium_fractions(table, WORDS, "substring")
    assert mediums.select_mediums(by_substring, 2) == ["B", "C"]
    with pytest.raises(ValueError, match="n_mediums must be between 1 and the 4 styles"):
        mediums.select_mediums(by_word, 5)


def test_select_mediums_returns_wikiart_order():
    table = pd.DataFrame({"style": ["Ukiyo_e", "Baroque", "Cubism"], "caption": ["art", "art", "a photo"]})
    assert mediums.select_mediums(mediums.medium_fractions(table, WORDS, "word"), 2) == ["Baroque", "Ukiyo_e"]


# --- WikiArt-shaped sources: decoding, skipping, capping ---------------------------------------------
def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def wikiart_folder(tmp_path):
    """A local dataset with WikiArt's columns; row 2's image is corrupt."""
    rows = [
        (_png((255, 0, 0)), 0),
        (_png((0, 255, 0)), 1),
        (b"not an image", 0),
        (_png((0, 0, 255)), 2),
        (_png((9, 9, 9)), 0),
        (_png((250, 250, 0)), 1),
        (_png((0, 250, 250)), 0),
    ]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "style": datasets.ClassLabel(names=["Baroque", "Cubism", "Ukiyo_e"]),
            "artist": datasets.Value("string"),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": b, "path": None} for b, _ in rows],
            "style": [s for _, s in rows],
            "artist": ["x"] * len(rows),
        },
        features=features,
    )
    folder = tmp_path / "wikiart"
    folder.mkdir()
    ds.to_parquet(str(folder / "train.parquet"))
    return folder


@pytest.mark.parametrize("streaming", [True, False])
def test_corrupt_images_are_skipped_and_counted_without_shifting_labels(wikiart_folder, small_data_cfg, streaming):
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(wikiart_folder), streaming=streaming)
    skipped = wikiart.SkipCount()
    names, stream = wikiart.open_wikiart(cfg, skipped)
    records = list(stream)
    assert names == ["Baroque", "Cubism", "Ukiyo_e"]
    assert skipped.unreadable == 1
    assert [r.index for r in records] == [0, 1, 3, 4, 5, 6]
    assert [r.style for r in records] == ["Baroque", "Cubism", "Ukiyo_e", "Baroque", "Cubism", "Baroque"]
    assert [r.image.getpixel((0, 0)) for r in records][:4] == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]


def test_max_per_style_caps_each_style(wikiart_folder, small_data_cfg):
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(wikiart_folder), max_per_style=1)
    _, stream = wikiart.open_wikiart(cfg, wikiart.SkipCount())
    assert [(r.index, r.style) for r in stream] == [(0, "Baroque"), (1, "Cubism"), (3, "Ukiyo_e")]


def test_a_wikiart_source_is_stored_with_its_own_style_names(wikiart_folder, small_data_cfg, tmp_path):
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(wikiart_folder))
    names, stream = wikiart.open_wikiart(cfg, wikiart.SkipCount())
    ds = label_sets.write_dataset(stream, names, 16, "JPEG", tmp_path / "full")
    assert ds.features["style"].names == names and ds["style"] == [0, 1, 2, 0, 1, 0]
    assert ds["source_index"] == [0, 1, 3, 4, 5, 6] and ds[2]["image"].size == (16, 16)


def test_a_dataset_without_style_labels_is_refused(tmp_path, small_data_cfg):
    folder = tmp_path / "plain"
    folder.mkdir()
    datasets.Dataset.from_dict({"text": ["a", "b"]}).to_parquet(str(folder / "train.parquet"))
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(folder))
    with pytest.raises(ValueError, match="needs an 'image' column and a 'style' ClassLabel column"):
        wikiart.open_wikiart(cfg, wikiart.SkipCount())


def test_unreachable_dataset_names_it(small_data_cfg, tmp_path):
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="Could not open the dataset .*missing"):
        wikiart.open_wikiart(cfg, wikiart.SkipCount())


# --- storing -------------------------------------------------------------------------------------------
def test_write_dataset_and_mediums_subset(small_data_cfg, tmp_path):
    target = tmp_path / "full"
    ds = label_sets.write_dataset(
        embedded.iter_embedded(small_data_cfg), list(wikiart.WIKIART_STYLES), 16, "PNG", target
    )
    assert len(ds) == 27 * 6 and ds[0]["image"].size == (16, 16)
    assert ds.features["style"].names == list(wikiart.WIKIART_STYLES)
    chosen = ["Baroque", "Cubism", "Ukiyo_e"]
    sub = mediums.mediums_subset(ds, chosen)
    assert sub.features["style"].names == chosen and len(sub) == 18
    names = ds.features["style"].names
    original = dict(zip(ds["source_index"], (names[s] for s in ds["style"])))
    assert all(original[i] == chosen[s] for i, s in zip(sub["source_index"], sub["style"]))


def test_an_interrupted_write_keeps_the_previous_dataset(small_data_cfg, tmp_path):
    target = tmp_path / "full"
    label_sets.write_dataset(embedded.iter_embedded(small_data_cfg), list(wikiart.WIKIART_STYLES), 16, "PNG", target)

    def broken():
        records = embedded.iter_embedded(small_data_cfg)
        yield next(records)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        label_sets.write_dataset(broken(), list(wikiart.WIKIART_STYLES), 16, "PNG", target)
    assert len(label_sets.load_saved(target)) == 27 * 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_center_square():
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    image.paste((255, 255, 255), (20, 0, 40, 20))  # the white middle third is the center square
    square = image_io.center_square(image, 10)
    assert square.size == (10, 10) and np.asarray(square).min() > 200


# --- captions --------------------------------------------------------------------------------------
def test_caption_cache_is_reused_and_extended(small_data_cfg, tmp_path):
    ds = label_sets.write_dataset(
        embedded.iter_embedded(small_data_cfg), list(wikiart.WIKIART_STYLES), 16, "PNG", tmp_path / "full"
    )
    calls = []

    def fake_captioner(images):
        calls.append(len(images))
        return [f"caption {len(calls)}-{i}" for i in range(len(images))]

    cache = tmp_path / "cache.csv"
    part = ds.select(range(50))
    first = captioning.caption_dataset(part, fake_captioner, cache, batch_size=20)
    assert calls == [20, 20, 10] and len(first) == 50
    calls.clear()
    everything = captioning.caption_dataset(ds, fake_captioner, cache, batch_size=100)
    assert calls == [100, 12]  # only the 112 uncached images
    assert everything[:50] == first
    calls.clear()
    assert captioning.caption_dataset(ds, fake_captioner, cache, batch_size=100) == everything and calls == []


def test_a_caption_row_cut_short_by_an_interruption_is_redone(small_data_cfg, tmp_path):
    ds = label_sets.write_dataset(
        embedded.iter_embedded(small_data_cfg), list(wikiart.WIKIART_STYLES), 16, "PNG", tmp_path / "full"
    ).select(range(4))
    cache = tmp_path / "cache.csv"
    captioning.caption_dataset(ds.select(range(2)), lambda ims: ['a, "quoted" caption'] * len(ims), cache, 8)
    with cache.open("a") as handle:
        handle.write('2,"a caption cut sh')  # the process died mid-row
    captions = captioning.caption_dataset(ds, lambda ims: ["fresh"] * len(ims), cache, 8)
    assert captions == ['a, "quoted" caption'] * 2 + ["fresh"] * 2
    assert captioning.read_caption_cache(cache) == dict(zip(ds["source_index"], captions))


def test_blip_captioning_code_path_runs_on_a_small_random_blip(small_data_cfg):
    model, processor = builders.tiny_blip(0)
    images = [r.image for r, _ in zip(embedded.iter_embedded(small_data_cfg), range(3))]
    captions = captioning.caption_images(images, model.eval(), processor, max_new_tokens=5)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    assert captions == captioning.caption_images(images, model, processor, max_new_tokens=5)  # greedy: repeatable


def test_open_source_picks_the_configured_source(wikiart_folder, small_data_cfg):
    generated = label_sets.open_source(small_data_cfg, wikiart.SkipCount())
    assert generated.styles == list(wikiart.WIKIART_STYLES) and generated.total == 27 * 6
    assert generated.image_format == "PNG" and len(list(generated.records)) == 27 * 6
    cfg = dataclasses.replace(small_data_cfg, source="wikiart", dataset_id=str(wikiart_folder))
    streamed = label_sets.open_source(cfg, wikiart.SkipCount())
    assert streamed.styles == ["Baroque", "Cubism", "Ukiyo_e"] and streamed.image_format == "JPEG"
    assert label_sets.source_key(cfg) != label_sets.source_key(small_data_cfg)


def test_a_cache_interrupted_before_its_first_row_is_resumed(small_data_cfg, tmp_path):
    ds = label_sets.write_dataset(
        embedded.iter_embedded(small_data_cfg), list(wikiart.WIKIART_STYLES), 16, "PNG", tmp_path / "full"
    ).select(range(3))
    cache = tmp_path / "cache.csv"
    cache.write_text("source_index,caption\n")  # the header was written, then the run died
    assert captioning.caption_dataset(ds, lambda ims: ["x"] * len(ims), cache, 8) == ["x"] * 3
    assert cache.read_text().count("source_index") == 1
    assert captioning.read_caption_cache(cache) == dict(zip(ds["source_index"], ["x"] * 3))


def test_label_sets_of_another_profile_or_a_stale_mediums_set_are_refused(workdir):
    with pytest.raises(FileNotFoundError, match="run notebooks/01_data.py first"):
        label_sets.load_label_sets("tiny")
    for name in ("full", "mediums"):
        datasets.Dataset.from_dict({"source_index": [0, 1]}).save_to_disk(str(paths.dataset_dir(name)))
    full = {"profile": "paper", "image_size": 512}
    artifacts.mark_made_from(paths.dataset_dir("full"), full)
    artifacts.mark_made_from(paths.dataset_dir("mediums"), {**full, "mediums": ["Cubism"], "match": "word"})
    with pytest.raises(RuntimeError, match="built for profile 'paper', not 'tiny'; run notebook 01"):
        label_sets.load_label_sets("tiny")
    assert {name: len(ds) for name, ds in label_sets.load_label_sets("paper").items()} == {"full": 2, "mediums": 2}
    # full rebuilt at another size, then notebook 01 stopped before it chose mediums again
    artifacts.mark_made_from(paths.dataset_dir("full"), {**full, "image_size": 256})
    with pytest.raises(RuntimeError, match="mediums was not chosen from the full dataset there now"):
        label_sets.load_label_sets("paper")


def test_label_sets_round_trip_through_their_provenance(workdir, small_data_cfg):
    skipped = wikiart.SkipCount()
    full, reused = label_sets.build_full(small_data_cfg, "tiny", skipped)
    assert not reused and len(full) == 27 * 6 and skipped.unreadable == 0
    chosen = ["Baroque", "Cubism", "Ukiyo_e"]
    label_sets.save_mediums(mediums.mediums_subset(full, chosen), chosen, "word")
    sets = label_sets.load_label_sets("tiny")
    assert sets["mediums"].features["style"].names == chosen and len(sets["mediums"]) == 3 * 6
    assert label_sets.record("full") == label_sets.full_record(small_data_cfg, "tiny")
    assert label_sets.record("mediums") == {**label_sets.record("full"), "mediums": chosen, "match": "word"}
    again, reused = label_sets.build_full(small_data_cfg, "tiny", skipped)
    assert reused and again["source_index"] == full["source_index"]
    other, reused = label_sets.build_full(dataclasses.replace(small_data_cfg, images_per_style=4), "tiny", skipped)
    assert not reused and len(other) == 27 * 4
    assert not artifacts.provenance_file(paths.dataset_dir("mediums")).exists()  # chosen from the old full set
    with pytest.raises(FileNotFoundError, match="has no provenance file"):
        label_sets.load_label_sets("tiny")


def test_an_artifact_made_from_another_label_set_is_refused_by_the_key_that_differs(workdir, tmp_path):
    artifacts.mark_made_from(paths.dataset_dir("full"), {"profile": "tiny", "seed": 0})
    artifact = tmp_path / "made.npy"
    label_sets.require_same_data(artifact, {"data": {"profile": "tiny", "seed": 0}}, "full", "02_centroids")
    with pytest.raises(RuntimeError, match=r"another full dataset .* \(it differs in seed\); rerun notebook 02"):
        label_sets.require_same_data(artifact, {"data": {"profile": "tiny", "seed": 1}}, "full", "02_centroids")
    with pytest.raises(RuntimeError, match="does not record the dataset it was made from"):
        label_sets.require_same_data(artifact, {}, "full", "02_centroids")
