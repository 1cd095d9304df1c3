"""The paper's two datasets: WikiArt ("full", 27 styles) and "mediums" (10 styles chosen from captions).

Two sources feed the same pipeline. ``wikiart`` streams the `datasets` id in the profile (paper);
``embedded`` generates a small deterministic stand-in for the same 27 style names, each style with
its own palette, texture and stroke pattern and every image with a caption, so the mediums
selection, the centroids and the CAN run unchanged on a laptop with no network.
"""
from __future__ import annotations

import csv
import io
import math
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from clipcreate_lib import artifacts, paths
from clipcreate_lib.config import DataConfig

datasets.disable_progress_bars()  # our own tqdm bars say what is happening; theirs repeat it

# huggan/wikiart's `style` ClassLabel names, in its class-index order.
WIKIART_STYLES = (
    "Abstract_Expressionism", "Action_painting", "Analytical_Cubism", "Art_Nouveau", "Baroque",
    "Color_Field_Painting", "Contemporary_Realism", "Cubism", "Early_Renaissance", "Expressionism",
    "Fauvism", "High_Renaissance", "Impressionism", "Mannerism_Late_Renaissance", "Minimalism",
    "Naive_Art_Primitivism", "New_Realism", "Northern_Renaissance", "Pointillism", "Pop_Art",
    "Post_Impressionism", "Realism", "Rococo", "Romanticism", "Symbolism", "Synthetic_Cubism", "Ukiyo_e",
)


def style_text(name: str) -> str:
    """The words a style name stands for ("Ukiyo_e" -> "Ukiyo e"): what the text classifier embeds."""
    return name.replace("_", " ")


@dataclass
class Record:
    """One image of the source dataset, before it is stored."""

    index: int  # position in the source stream: a stable id for caches
    image: Image.Image
    style: str


@dataclass
class SkipCount:
    """How many source rows were skipped because their image could not be decoded."""

    unreadable: int = 0


# --- sources -------------------------------------------------------------------------------------
@dataclass
class Source:
    """Where the full dataset's images come from, ready to be stored by ``write_dataset``."""

    styles: list[str]  # class names, in label order
    records: Iterator[Record]
    total: int | None  # number of records when known (for the progress bar)
    image_format: str  # how images are stored: lossless for generated ones, JPEG for photos of art


def open_source(cfg: DataConfig, skipped: SkipCount) -> Source:
    """The configured source: the embedded generator or a WikiArt-shaped `datasets` id."""
    if cfg.source == "embedded":
        return Source(list(WIKIART_STYLES), iter_embedded(cfg), len(WIKIART_STYLES) * cfg.images_per_style, "PNG")
    styles, records = open_wikiart(cfg, skipped)
    return Source(styles, records, None, "JPEG")


def source_key(cfg: DataConfig) -> dict:
    """The settings that decide the stored full dataset: while they hold, it is reused."""
    keys = ("source", "dataset_id", "split", "max_per_style", "image_size", "images_per_style", "seed")
    return {k: getattr(cfg, k) for k in keys}


def open_wikiart(cfg: DataConfig, skipped: SkipCount) -> tuple[list[str], Iterator[Record]]:
    """The source's style names (its ClassLabel order) and a stream of its rows as ``Record``s.

    Each image is decoded here, not by `datasets`, so a corrupt one is counted in ``skipped`` and
    dropped with its own label (labels never shift); a style stops once it has ``max_per_style``
    images, and the stream ends when every style has.
    """
    try:
        source = datasets.load_dataset(cfg.dataset_id, split=cfg.split, streaming=cfg.streaming)
    except Exception as err:  # the datasets library raises many types for "not reachable"
        raise RuntimeError(
            f"Could not open the dataset '{cfg.dataset_id}' (split '{cfg.split}'): {err}. Download it once where "
            "the Hugging Face hub is reachable (HF_HOME caches it), or set data.dataset_id to a local folder."
        ) from err
    features = source.features
    if features is None or "image" not in features or not isinstance(features.get("style"), datasets.ClassLabel):
        raise ValueError(f"The dataset '{cfg.dataset_id}' needs an 'image' column and a 'style' ClassLabel column.")
    names = list(features["style"].names)
    return names, _iter_records(source.cast_column("image", datasets.Image(decode=False)), names,
                                cfg.max_per_style, skipped)


def _iter_records(source, names: list[str], max_per_style: int | None, skipped: SkipCount) -> Iterator[Record]:
    taken = dict.fromkeys(names, 0)
    for index, row in enumerate(source):
        style = names[row["style"]]
        if max_per_style is not None and taken[style] >= max_per_style:
            if all(n >= max_per_style for n in taken.values()):
                return
            continue
        image = decode_image(row["image"])
        if image is None:
            skipped.unreadable += 1
            continue
        taken[style] += 1
        yield Record(index, image, style)


def decode_image(value: dict) -> Image.Image | None:
    """An undecoded `datasets` image (bytes or path) as RGB, or None if it cannot be read."""
    try:
        data = value.get("bytes")
        image = Image.open(io.BytesIO(data) if data is not None else value["path"])
        image.load()
        return image.convert("RGB")
    except Exception:  # PIL raises several unrelated types for broken files
        return None


# The embedded dataset's look: 9 textures x 3 palette families = 27 distinct styles.
TEXTURES = ("stripes", "lines", "waves", "checks", "dots", "rings", "blots", "strokes", "gradient")
COLORS = {"red": (0.85, 0.1, 0.1), "orange": (1.0, 0.55, 0.0), "yellow": (0.95, 0.9, 0.1),
          "green": (0.1, 0.7, 0.2), "blue": (0.1, 0.25, 0.9), "purple": (0.55, 0.15, 0.7),
          "white": (0.97, 0.97, 0.97), "black": (0.05, 0.05, 0.05)}
SUBJECTS = ("circle", "square", "man", "woman", "animal", "building")
OTHER_MEDIUMS = ("photo", "picture", "print", "image")


def iter_embedded(cfg: DataConfig) -> Iterator[Record]:
    """The embedded stand-in for WikiArt: ``images_per_style`` images for each style, same every run."""
    for index, (s, style, j) in enumerate(_embedded_slots(cfg)):
        pixels, _ = _draw(s, cfg.image_size, np.random.default_rng([cfg.seed, s, j]))
        yield Record(index, Image.fromarray(pixels), style)


def embedded_captions(cfg: DataConfig) -> list[str]:
    """BLIP-like captions for ``iter_embedded``'s images, in the same order.

    Each style names a medium word (painting, drawing, art) in its own fraction of captions, and some
    captions say "by an artist", which only the reference code's substring match counts as "art".
    """
    rates = _medium_rates(len(WIKIART_STYLES), cfg.seed)
    captions = []
    for s, _, j in _embedded_slots(cfg):
        _, color = _draw(s, cfg.image_size, np.random.default_rng([cfg.seed, s, j]))
        rng = np.random.default_rng([cfg.seed, s, j, 1])
        medium = rng.choice(cfg.medium_words) if rng.random() < rates[s] else rng.choice(OTHER_MEDIUMS)
        texture = TEXTURES[s % len(TEXTURES)]
        caption = f"{_article(medium)} {medium} of {_article(color)} {color} {rng.choice(SUBJECTS)} on {texture}"
        if rng.random() < 0.3:
            caption += " by an artist"
        captions.append(caption)
    return captions


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _embedded_slots(cfg: DataConfig) -> Iterator[tuple[int, str, int]]:
    for s, style in enumerate(WIKIART_STYLES):
        for j in range(cfg.images_per_style):
            yield s, style, j


def _medium_rates(n_styles: int, seed: int) -> np.ndarray:
    """Per-style probability that a caption names a medium word: evenly spread, shuffled by seed."""
    return np.random.default_rng([seed, 10_000]).permutation(np.linspace(0.05, 0.95, n_styles))


def _palette(s: int) -> np.ndarray:
    """Three RGB colours for style ``s``: hues spread by the golden ratio, a family per texture cycle."""
    family = s // len(TEXTURES)
    saturation, value = [(0.9, 0.95), (0.35, 1.0), (0.8, 0.45)][family % 3]
    hues = (s * 0.618034 + np.array([0.0, 0.12, 0.5])) % 1.0
    return np.stack([_hsv_to_rgb(h, saturation, value) for h in hues])


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _draw(s: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One image of style ``s`` (uint8, size x size x 3) and the colour word of its subject.

    The image is a function of ``rng``'s seed alone, so the caption writer can replay it.
    """
    palette = _palette(s)
    texture = TEXTURES[s % len(TEXTURES)]
    y, x = np.mgrid[0:size, 0:size] / size
    freq = rng.uniform(3.0, 6.0)
    phase = rng.uniform(0.0, 2 * math.pi)
    angle = rng.uniform(-0.3, 0.3)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    noise = rng.random((size // 8 + 1, size // 8 + 1))
    blurry = np.kron(noise, np.ones((8, 8)))[:size, :size]
    t = {
        "stripes": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * v + phase)),
        "lines": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * u + phase)),
        "waves": 0.5 + 0.5 * np.sin(2 * math.pi * freq * (u + 0.1 * np.sin(2 * math.pi * 2 * v)) + phase),
        "checks": (np.floor(freq * u) + np.floor(freq * v)) % 2,
        "dots": (np.hypot((freq * u) % 1 - 0.5, (freq * v) % 1 - 0.5) < 0.25).astype(float),
        "rings": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * np.hypot(u - 0.5, v - 0.5) + phase)),
        "blots": (blurry > 0.5).astype(float),
        "strokes": ((np.sin(2 * math.pi * freq * (u + v)) > 0.6) & (blurry > 0.3)).astype(float),
        "gradient": np.clip(u * math.cos(phase) + v * math.sin(phase) + 0.3, 0.0, 1.0),
    }[texture]
    image = palette[0] * (1 - t[..., None]) + palette[1] * t[..., None]
    color = list(COLORS)[int(rng.integers(len(COLORS)))]
    cx, cy, r = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.12, 0.22)
    subject = np.hypot(x - cx, y - cy) < r
    image[subject] = 0.3 * palette[2] + 0.7 * np.array(COLORS[color])
    image = image + rng.normal(0.0, 0.03, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8), color


# --- storing -------------------------------------------------------------------------------------
def center_square(image: Image.Image, size: int) -> Image.Image:
    """Center-crop to a square and resize to ``size`` (the CAN and CLIP both want squares)."""
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    image = image.crop(box)
    return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.BICUBIC)


def features(style_names: list[str]) -> datasets.Features:
    return datasets.Features({
        "image": datasets.Image(),
        "style": datasets.ClassLabel(names=style_names),
        "source_index": datasets.Value("int64"),
    })


def write_dataset(records: Iterable[Record], style_names: list[str], image_size: int, fmt: str,
                  target: Path, total: int | None = None) -> datasets.Dataset:
    """Store records at ``target`` as a `datasets.Dataset` of square images, streamed to disk.

    Rows go through a temporary Arrow cache beside ``target`` and the finished dataset is renamed
    into place, so an interrupted run never leaves a half-written dataset behind.
    """
    label = {name: i for i, name in enumerate(style_names)}

    def rows():
        for r in tqdm(records, total=total, desc="images", unit="img"):
            buffer = io.BytesIO()
            center_square(r.image, image_size).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
            yield {"image": {"bytes": buffer.getvalue(), "path": None}, "style": label[r.style],
                   "source_index": r.index}

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as cache:
        # A fresh fingerprint: the records are not hashable, and the cache folder is new anyway.
        ds = datasets.Dataset.from_generator(rows, features=features(style_names), cache_dir=cache,
                                             fingerprint=uuid.uuid4().hex)
        save_dataset(ds, target)
    return load_saved(target)


def save_dataset(ds: datasets.Dataset, target: Path) -> None:
    """Write ``ds`` beside ``target`` and rename it into place: never a half-written dataset."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.save_to_disk(str(tmp))
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_saved(target: Path) -> datasets.Dataset:
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist; run notebooks/01_data.py first (./run_all.sh --only 01).")
    return datasets.load_from_disk(str(target))


def load_label_sets(profile: str) -> dict[str, datasets.Dataset]:
    """The full and mediums datasets of notebook 01, refused if they were built for another profile
    or if mediums was not chosen from this full dataset (a notebook 01 stopped between the two)."""
    sets = {name: load_saved(paths.dataset_dir(name)) for name in ("full", "mediums")}
    full = artifacts.read_made_from(paths.dataset_dir("full"))
    if full["profile"] != profile:
        raise RuntimeError(f"data/datasets was built for profile '{full['profile']}', not '{profile}'; "
                           f"run notebook 01 with profile '{profile}' first.")
    mediums = artifacts.read_made_from(paths.dataset_dir("mediums"))
    if {k: v for k, v in mediums.items() if k not in ("mediums", "match")} != full:
        raise RuntimeError(f"{paths.dataset_dir('mediums')} was not chosen from the full dataset there now "
                           f"(notebook 01 stopped between the two?); run notebook 01 again.")
    return sets


def images_as_tensor(images: list[Image.Image]) -> torch.Tensor:
    """PIL images of one size -> float tensor (B, 3, H, W) in [0, 1], the form every model here takes."""
    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images]) / 255.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


# --- captions and the mediums selection ------------------------------------------------------------
def caption_images(images: list[Image.Image], model, processor, max_new_tokens: int) -> list[str]:
    """BLIP captions for a batch of images (unconditional captioning, greedy decoding)."""
    param = next(model.parameters())
    inputs = processor(images=images, return_tensors="pt").to(param.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(param.dtype)
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=max_new_tokens)
    return [c.strip() for c in processor.batch_decode(ids, skip_special_tokens=True)]


def caption_dataset(ds: datasets.Dataset, caption_batch: Callable[[list[Image.Image]], list[str]],
                    cache_file: Path, batch_size: int) -> list[str]:
    """Caption every image of ``ds``, reusing and extending a cache keyed by ``source_index``.

    Each finished batch is appended to the cache at once, so an interrupted run loses at most one
    batch (a row cut short by the interruption is dropped) and a rerun captions nothing twice.
    """
    _drop_unfinished_row(cache_file)
    cached = read_caption_cache(cache_file)
    todo = [i for i, idx in enumerate(ds["source_index"]) if idx not in cached]
    with cache_file.open("a", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if handle.tell() == 0:
            writer.writerow(CAPTION_HEADER)
        for start in tqdm(range(0, len(todo), batch_size), desc="captions", unit="batch"):
            rows = ds.select(todo[start:start + batch_size])
            captions = caption_batch(list(rows["image"]))
            for idx, caption in zip(rows["source_index"], captions):
                caption = " ".join(caption.split())  # one line per row, whatever the model produced
                writer.writerow([idx, caption])
                cached[idx] = caption
            handle.flush()
    return [cached[idx] for idx in ds["source_index"]]


CAPTION_HEADER = ["source_index", "caption"]


def _complete_rows(cache_file: Path) -> str:
    """The cache file's text up to its last newline ("" if missing or not a caption cache)."""
    text = cache_file.read_text() if cache_file.exists() else ""
    complete = text[:text.rfind("\n") + 1]
    return complete if complete.startswith(",".join(CAPTION_HEADER) + "\n") else ""


def _drop_unfinished_row(cache_file: Path) -> None:
    """Cut a last row that an interruption left without its newline; empty a file that is not a cache."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    complete = _complete_rows(cache_file)
    if not cache_file.exists() or complete != cache_file.read_text():
        artifacts.atomic_write(cache_file, lambda f: f.write(complete.encode()))  # never a half-written cache


def read_caption_cache(cache_file: Path) -> dict[int, str]:
    """The cached captions of complete rows."""
    complete = _complete_rows(cache_file)
    if not complete:
        return {}
    table = pd.read_csv(io.StringIO(complete), keep_default_na=False, dtype={"caption": str})
    return dict(zip(table["source_index"].astype(int), table["caption"]))


def mentions_medium(caption: str, words: list[str], match: str) -> bool:
    """Does a caption contain a medium word? "word": as a whole word; "substring": anywhere (reference)."""
    text = caption.lower()
    if match == "substring":
        return any(w.lower() in text for w in words)
    if match == "word":
        return re.search(r"\b(?:" + "|".join(re.escape(w.lower()) for w in words) + r")\b", text) is not None
    raise ValueError(f"Unknown match mode '{match}'; use 'word' or 'substring'.")


def medium_fractions(captions: pd.DataFrame, words: list[str], match: str) -> pd.DataFrame:
    """Per style: the fraction of its captions that mention a medium word, highest first (ties by name)."""
    hits = captions["caption"].map(lambda c: mentions_medium(c, words, match))
    table = (captions.assign(hit=hits).groupby("style")
             .agg(fraction=("hit", "mean"), n_images=("hit", "size")).reset_index())
    return table.sort_values(["fraction", "style"], ascending=[False, True], ignore_index=True)


def select_mediums(fractions: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` styles with the highest medium fraction, returned in the label set's original order."""
    if not 1 <= n <= len(fractions):
        raise ValueError(f"data.n_mediums must be between 1 and the {len(fractions)} styles present, got {n}.")
    chosen = set(fractions["style"].head(n))
    return [s for s in sorted(fractions["style"], key=_style_order) if s in chosen]


def _style_order(style: str) -> tuple[int, str]:
    return (WIKIART_STYLES.index(style) if style in WIKIART_STYLES else len(WIKIART_STYLES), style)


def mediums_subset(full: datasets.Dataset, chosen: list[str]) -> datasets.Dataset:
    """Rows of ``full`` whose style is chosen, relabelled 0..len(chosen)-1 in ``chosen`` order."""
    names = full.features["style"].names
    remap = {names.index(s): i for i, s in enumerate(chosen)}
    keep = [i for i, label in enumerate(full["style"]) if label in remap]
    subset = full.select(keep)
    new_labels = [remap[label] for label in subset["style"]]
    subset = subset.remove_columns("style").add_column("style", new_labels)
    return subset.cast(features(chosen)).flatten_indices()
