"""The classifier-free guidance-scale sweep: the untrained model and the six DDPO models on the first
images of the evaluation protocol (prompt i mod 24, seed i) at every scale, made by notebook 05's
``generation.generate`` (so a rerun reuses them) and scored by its ``scoring.score``. One row per
(model, scale): the ambiguity under the model's own classifier (for ``base``, the mean over the six),
prompt alignment, AVA, ImageReward and diversity (mean pairwise CLIP cosine distance)."""

from __future__ import annotations

import dataclasses

import pandas as pd
from diffusers import StableDiffusionPipeline

from clipcreate_lib import config, paths
from clipcreate_lib.ddpo import weights
from clipcreate_lib.evaluation import generation, scoring
from clipcreate_lib.guidance.runs import Scorer
from clipcreate_lib.models import loaders
from clipcreate_lib.paths import tokens_files

METRICS = ("ambiguity_own", "alignment", "ava", "ir", "diversity")


def model_pipeline(cfg: config.Config, model: str) -> tuple[StableDiffusionPipeline, dict]:
    """``model``'s pipeline ('base' or a DDPO model's trained weights) and its provenance, as notebook 05's."""
    pipe = loaders.load_stable_diffusion(cfg)
    made_from = {
        "model": model,
        "profile": cfg.profile,
        "stable_diffusion": loaders.model_name(cfg.models, "stable_diffusion"),
    }
    if model != "base":
        made_from["trained"] = weights.weights_record(paths.ddpo_dir(model), cfg.profile)
        weights.load_trained(pipe, paths.ddpo_dir(model))
    return pipe, made_from


def run(cfg: config.Config, scorer: Scorer, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """The sweep's table (one row per model and scale) and each set's folder, by (model, scale)."""
    s, rows, folders = cfg.tokens, [], {}
    for model in s.sweep_models:
        pipe, made_from = model_pipeline(cfg, model)
        for scale in s.sweep_scales:
            protocol = dataclasses.replace(cfg.evaluation, guidance_scale=scale, images=s.sweep_images)
            folders[model, scale] = folder = tokens_files.sweep_dir(model, scale)
            manifest = generation.generate(pipe, protocol, folder, made_from, progress)
            scored, embeddings = scorer(folder, manifest)
            rows.append(row(model, scale, scored, scoring.diversity(embeddings)))
    return pd.DataFrame(rows), folders


def row(model: str, scale: float, scored: pd.DataFrame, diversity: float) -> dict:
    """The sweep's row of one set's scores."""
    ambiguity = [c for c in scored.columns if c.startswith("ambiguity_")]
    own = scored[ambiguity].mean(axis=1) if model == "base" else scored[f"ambiguity_{model}"]
    out = {"model": model, "scale": scale, "n": len(scored), "ambiguity_own": own.mean()}
    out.update({k: scored[k].mean() for k in ("alignment", "ava", "ir")}, diversity=diversity)
    return out | {c: scored[c].mean() for c in ambiguity}


def display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[["model", "scale", "n", *METRICS]].copy()
    for column in METRICS:
        shown[column] = shown[column].map("{:.3f}".format)
    return shown
