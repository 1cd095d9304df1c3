"""The paper's two label sets as saved datasets: WikiArt ("full", 27 styles) and "mediums" (10 styles).

Two sources feed the same pipeline: ``wikiart`` streams the `datasets` id in the profile (paper),
``embedded`` generates a small deterministic stand-in (``embedded``). Each saved dataset carries
its provenance (the source settings and the profile; for mediums, the chosen styles), which every
later artifact records as the data it was made from and is checked against.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets

from clipcreate_lib import artifacts, paths
from clipcreate_lib.config import DataConfig
from clipcreate_lib.data.embedded import iter_embedded
from clipcreate_lib.data.image_io import center_square
from clipcreate_lib.data.wikiart import WIKIART_STYLES, Record, SkipCount, open_wikiart
from clipcreate_lib.progress import bar

LABEL_SETS = ("full", "mediums")


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


def features(style_names: list[str]) -> datasets.Features:
    return datasets.Features(
        {
            "image": datasets.Image(),
            "style": datasets.ClassLabel(names=style_names),
            "source_index": datasets.Value("int64"),
        }
    )


def write_dataset(
    records: Iterable[Record], style_names: list[str], image_size: int, fmt: str, target: Path, total: int | None = None
) -> datasets.Dataset:
    """Store records at ``target`` as a `datasets.Dataset` of square images, streamed to disk.

    Rows go through a temporary Arrow cache beside ``target`` and the finished dataset is renamed
    into place, so an interrupted run never leaves a half-written dataset behind.
    """
    label = {name: i for i, name in enumerate(style_names)}

    def rows():
        for r in bar(records, total=total, desc="images", unit="img"):
            buffer = io.BytesIO()
            center_square(r.image, image_size).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
            yield {
                "image": {"bytes": buffer.getvalue(), "path": None},
                "style": label[r.style],
                "source_index": r.index,
            }

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as cache:
        # A fresh fingerprint: the records are not hashable, and the cache folder is new anyway.
        with quiet_datasets():
            ds = datasets.Dataset.from_generator(
                rows, features=features(style_names), cache_dir=cache, fingerprint=uuid.uuid4().hex
            )
        save_dataset(ds, target)
    return load_saved(target)


def save_dataset(ds: datasets.Dataset, target: Path) -> None:
    """Write ``ds`` into a folder beside ``target`` and swap it into place: never a half-written dataset."""
    staging = artifacts.staging_dir(target)
    try:
        with quiet_datasets():
            ds.save_to_disk(str(staging))
        artifacts.replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """`datasets`' own progress bars off while it writes what our bars already count, then as they were."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def load_saved(target: Path) -> datasets.Dataset:
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist; run notebooks/01_data.py first (./run_all.sh --only 01).")
    return datasets.load_from_disk(str(target))


def full_record(cfg: DataConfig, profile: str) -> dict:
    """The provenance of the full dataset: the profile and the settings that decide its images."""
    return {"profile": profile, **source_key(cfg)}


def build_full(cfg: DataConfig, profile: str, skipped: SkipCount) -> tuple[datasets.Dataset, bool]:
    """The full dataset at ``paths.dataset_dir('full')``, reused while ``full_record`` holds, else
    written again from the source (unreadable images counted in ``skipped``); and whether it was
    reused. Mediums' provenance goes first, as mediums is chosen from the dataset being replaced."""
    target = paths.dataset_dir("full")

    def rebuild() -> datasets.Dataset:
        artifacts.forget_made_from(paths.dataset_dir("mediums"))
        source = open_source(cfg, skipped)
        return write_dataset(source.records, source.styles, cfg.image_size, source.image_format, target, source.total)

    return artifacts.reuse_or_rebuild(target, full_record(cfg, profile), rebuild, lambda: load_saved(target))


def save_mediums(mediums: datasets.Dataset, chosen: list[str], match: str) -> Path:
    """Save the mediums dataset with its provenance: the full dataset's, the chosen styles and the match mode."""
    target = paths.dataset_dir("mediums")
    full = artifacts.read_made_from(paths.dataset_dir("full"))
    artifacts.forget_made_from(target)
    save_dataset(mediums, target)
    artifacts.mark_made_from(target, {**full, "mediums": chosen, "match": match})
    return target


def record(name: str) -> dict:
    """The provenance of a saved label set, which every artifact made from it records as its ``data``."""
    return artifacts.read_made_from(paths.dataset_dir(name))


def require_same_data(path: Path, made_from: dict, name: str, notebook: str) -> None:
    """``path`` records the provenance of the label set it was made from; it must be the label set's now."""
    recorded = made_from.get("data")
    if recorded is None:
        raise RuntimeError(
            f"{path} does not record the dataset it was made from (an older notebook {notebook} "
            f"wrote it); rerun notebook {notebook}."
        )
    changed = artifacts.changed_keys(recorded, record(name))
    if changed:
        raise RuntimeError(
            f"{path} was made from another {name} dataset than {paths.dataset_dir(name)} holds now "
            f"(it differs in {', '.join(changed)}); rerun notebook {notebook}."
        )


def load_label_sets(profile: str) -> dict[str, datasets.Dataset]:
    """The full and mediums datasets of notebook 01, refused if they were built for another profile
    or if mediums was not chosen from this full dataset (a notebook 01 stopped between the two)."""
    sets = {name: load_saved(paths.dataset_dir(name)) for name in LABEL_SETS}
    full = record("full")
    if full["profile"] != profile:
        raise RuntimeError(
            f"data/datasets was built for profile '{full['profile']}', not '{profile}'; "
            f"run notebook 01 with profile '{profile}' first."
        )
    mediums = record("mediums")
    if {k: v for k, v in mediums.items() if k not in ("mediums", "match")} != full:
        raise RuntimeError(
            f"{paths.dataset_dir('mediums')} was not chosen from the full dataset there now "
            f"(notebook 01 stopped between the two?); run notebook 01 again."
        )
    return sets
