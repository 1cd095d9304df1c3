"""What the embeddings learn from and what is drawn with them: notebook 01's images with their
captions as [filewords], the prompts of the probe and of the audit, and fixed-seed sampling.

A style's token learns from that style's images of the full label set; a re-learned word learns from
a style-balanced sample (the same number of images of every style), so that the word stops leaning
toward the styles the model's own training data over-represents.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np
import pandas as pd
import torch
from diffusers import StableDiffusionPipeline

from clipcreate_lib import paths
from clipcreate_lib.config import EvaluationConfig
from clipcreate_lib.data.image_io import center_square, images_as_tensor
from clipcreate_lib.data.wikiart import style_text
from clipcreate_lib.evaluation import generation
from clipcreate_lib.progress import bar
from clipcreate_lib.tokens import inversion

# the evaluation's subjects as objects of "a painting of ...": "a man", ..., "a child" (7)
SUBJECTS = tuple(s.strip().removeprefix("of ") for s in generation.SUBJECTS if s.strip())
KINDS = ("token", "name", "bare")  # the probe's three prompts per style


def token_of(style: str) -> str:
    """A style's token, "<ukiyo_e>": lower case, as CLIP's tokenizer lower-cases what it reads."""
    return f"<{style.lower()}>"


def captions(ds: datasets.Dataset) -> list[str]:
    """Notebook 01's caption of every image of ``ds`` (captions.csv, joined on the source row)."""
    table = pd.read_csv(paths.captions_file()).set_index("source_index")["caption"]
    return [table[i] for i in ds["source_index"]]


def style_rows(ds: datasets.Dataset, style: str, limit: int) -> list[int]:
    """The rows of ``style`` in ``ds`` (the first ``limit``; 0 = all), refused for a style it lacks."""
    names = ds.features["style"].names
    if style not in names:
        raise ValueError(f"'{style}' is not a style of this label set; choose from {', '.join(names)}.")
    rows = np.flatnonzero(np.asarray(ds["style"]) == names.index(style)).tolist()
    return rows[:limit] if limit else rows


def balanced_rows(ds: datasets.Dataset, per_style: int, seed: int) -> list[int]:
    """``per_style`` random rows of every style of ``ds`` (fewer where a style has fewer)."""
    rng, labels = np.random.default_rng(seed), np.asarray(ds["style"])
    chosen = [rng.permutation(np.flatnonzero(labels == s))[:per_style] for s in range(len(ds.features["style"].names))]
    return sorted(np.concatenate(chosen).tolist())


def latents_of(pipe: StableDiffusionPipeline, ds: datasets.Dataset, rows: Sequence[int], batch: int) -> torch.Tensor:
    """The scaled VAE latents of ``ds``'s ``rows`` at the pipeline's resolution."""
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    parts = []
    for start in range(0, len(rows), batch):
        images = ds.select(rows[start : start + batch])["image"]
        parts.append(inversion.encode_images(pipe, images_as_tensor([center_square(im, size) for im in images])))
    return torch.cat(parts)


def probe_prompt(kind: str, style: str, index: int) -> str:
    """Probe image ``index`` of ``style``: subject index mod 7, by the token, in the style's name, or bare."""
    subject = f"a painting of {SUBJECTS[index % len(SUBJECTS)]}"
    text = {"token": f"{subject} by {token_of(style)}", "name": f"{subject} in the style of {style_text(style)}"}
    if kind not in KINDS:
        raise ValueError(f"Unknown probe prompt '{kind}'; choose one of {', '.join(KINDS)}.")
    return text.get(kind, subject)


def audit_prompt(word: str, index: int) -> str:
    """Audit image ``index``: the evaluation's "painting ..." prompts (index mod 8) with ``word`` in its place."""
    return generation.PROMPTS[index % len(generation.SUBJECTS)].replace("painting", word, 1)


def sample(pipe, prompts: Sequence[str], protocol: EvaluationConfig, desc: str, progress: bool = True) -> torch.Tensor:
    """Image i of ``prompts`` with seed i, the protocol's steps, guidance and eta, as 8-bit images would
    store it: (N, 3, H, W) in [0, 1]."""
    parts, size = [], protocol.batch_size
    for start in bar(range(0, len(prompts), size), desc=desc, unit="batch", disable=not progress):
        seeds = range(start, min(start + size, len(prompts)))
        out = pipe(
            prompt=[prompts[i] for i in seeds],
            num_inference_steps=protocol.steps,
            guidance_scale=protocol.guidance_scale,
            eta=protocol.eta,
            output_type="np",
            generator=[torch.Generator().manual_seed(i) for i in seeds],
        ).images
        parts.append(torch.from_numpy((out * 255).round() / 255).permute(0, 3, 1, 2).float())
    return torch.cat(parts)
