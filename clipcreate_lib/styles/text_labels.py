"""The text classifier's centres: CLIP text embeddings of a label set's style names, with the names.

Notebook 02 embeds them (``embed``) and saves them with their provenance (``save``); ``load`` gives
them back only while the label set and the CLIP model are the ones they were made with.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from transformers import CLIPModel, CLIPProcessor

from clipcreate_lib import artifacts, paths
from clipcreate_lib.data import label_sets
from clipcreate_lib.data.wikiart import style_text
from clipcreate_lib.models import clip_space

NOTEBOOK = "02_centroids"


def embed(labels: list[str], clip: CLIPModel, processor: CLIPProcessor) -> np.ndarray:
    """L2-normalised CLIP text embeddings (N, D) of the style names ("Ukiyo_e" is embedded as "Ukiyo e")."""
    with torch.inference_mode():
        return clip_space.text_embeddings([style_text(s) for s in labels], clip, processor).cpu().numpy()


def save(name: str, labels: list[str], embeddings: np.ndarray, clip_name: str) -> None:
    """Save a label set's text embeddings with their provenance, and its labels in class-index order."""
    path = paths.text_embeddings_file(name)
    artifacts.save_npy(path, embeddings)
    artifacts.mark_made_from(path, {"clip": clip_name, "labels": labels, "data": label_sets.record(name)})
    artifacts.save_json(paths.labels_file(name), labels)


def load(name: str, clip_name: str) -> tuple[np.ndarray, list[str]]:
    """A label set's text embeddings and labels, refused unless made from the label set saved now and
    with ``clip_name``."""
    path = paths.text_embeddings_file(name)
    made_from = artifacts.require_made_from(path, NOTEBOOK)
    label_sets.require_same_data(path, made_from, name, NOTEBOOK)
    artifacts.require_value(path, made_from, "clip", clip_name, NOTEBOOK)
    return np.load(path), json.loads(paths.labels_file(name).read_text())
