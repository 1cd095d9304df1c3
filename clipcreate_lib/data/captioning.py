"""BLIP captions of the full dataset, cached by source row, which the mediums selection reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import datasets
import pandas as pd
import torch
from PIL import Image

from clipcreate_lib import artifacts
from clipcreate_lib.progress import bar


def caption_images(images: list[Image.Image], model, processor, max_new_tokens: int) -> list[str]:
    """BLIP captions for a batch of images (unconditional captioning, greedy decoding)."""
    param = next(model.parameters())
    inputs = processor(images=images, return_tensors="pt").to(param.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(param.dtype)
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=max_new_tokens)
    return [c.strip() for c in processor.batch_decode(ids, skip_special_tokens=True)]


def caption_dataset(
    ds: datasets.Dataset, caption_batch: Callable[[list[Image.Image]], list[str]], cache_file: Path, batch_size: int
) -> list[str]:
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
        for start in bar(range(0, len(todo), batch_size), desc="captions", unit="batch"):
            rows = ds.select(todo[start : start + batch_size])
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
    complete = text[: text.rfind("\n") + 1]
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
