"""WikiArt as the paper uses it: the 27 style names of ``huggan/wikiart`` and a stream of its rows.

The rows are streamed from the `datasets` id in the profile and decoded here, one at a time, so a
corrupt image is counted and dropped with its own label, and a style stops once it has
``data.max_per_style`` images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import datasets
from PIL import Image

from clipcreate_lib.config import DataConfig
from clipcreate_lib.data.image_io import decode_image

# huggan/wikiart's `style` ClassLabel names, in its class-index order.
WIKIART_STYLES = (
    "Abstract_Expressionism",
    "Action_painting",
    "Analytical_Cubism",
    "Art_Nouveau",
    "Baroque",
    "Color_Field_Painting",
    "Contemporary_Realism",
    "Cubism",
    "Early_Renaissance",
    "Expressionism",
    "Fauvism",
    "High_Renaissance",
    "Impressionism",
    "Mannerism_Late_Renaissance",
    "Minimalism",
    "Naive_Art_Primitivism",
    "New_Realism",
    "Northern_Renaissance",
    "Pointillism",
    "Pop_Art",
    "Post_Impressionism",
    "Realism",
    "Rococo",
    "Romanticism",
    "Symbolism",
    "Synthetic_Cubism",
    "Ukiyo_e",
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
    """How many source rows were skipped, and why."""

    unreadable: int = 0  # the image could not be decoded
    unlabelled: int = 0  # the style is missing (null) or -1, `datasets`' "no label"

    def __str__(self) -> str:
        return f"{self.unreadable} unreadable images, {self.unlabelled} rows without a style label"


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
    return names, _iter_records(
        source.cast_column("image", datasets.Image(decode=False)), names, cfg.max_per_style, skipped
    )


def _iter_records(source, names: list[str], max_per_style: int | None, skipped: SkipCount) -> Iterator[Record]:
    taken = dict.fromkeys(names, 0)
    for index, row in enumerate(source):
        label = row["style"]
        if not isinstance(label, int) or not 0 <= label < len(names):  # -1 and None: no label
            skipped.unlabelled += 1
            continue
        style = names[label]
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
