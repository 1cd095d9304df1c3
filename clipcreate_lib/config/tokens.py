"""Settings of notebook 09 (seed 003): textual inversion of a style into a new token, re-learning an
existing word on a style-balanced sample, and the classifier-free guidance-scale sweep. The training
defaults are those of diffusers' textual-inversion example (Gal et al. 2022's method)."""

from __future__ import annotations

from dataclasses import dataclass

from clipcreate_lib.config.fields import above_zero, non_negative, nonempty, positive, probability
from clipcreate_lib.config.stages import EVAL_ROWS, EvalRow

SWEEP_SCALES = (0.0, 1.0, 2.0, 4.0, 7.5, 10.0, 15.0, 20.0, 30.0)  # seed 003 swept 0 to 30


@dataclass
class TokensConfig:
    # Styles (WikiArt names of the full label set) that each get a token of their own, "<Style_Name>".
    styles: list[str] = nonempty(lambda: ["Impressionism", "Cubism", "Ukiyo_e", "Pop_Art"])
    # Embedding vectors per token (seed 003 compared 1 and 16); n > 1 adds "<t>", "<t>_1", ... as diffusers does.
    vectors: int = positive(1)
    # The word whose embedding row every new vector starts from (diffusers' --initializer_token).
    initializer: str = "painting"
    # Training caption; {filewords} is the image's caption (notebook 01), {token} the token (seed 003's template).
    template: str = "a painting of {filewords} by {token}"
    # Training images per style, the first of the style in the full dataset (0 = all of them).
    images_per_style: int = non_negative(0)
    # Optimiser steps per token, images per step, AdamW's learning rate and weight decay (diffusers' example).
    steps: int = positive(3000)
    batch_size: int = positive(4)
    lr: float = above_zero(5e-4)
    weight_decay: float = non_negative(1e-2)
    # Steps between checkpoints (the learned rows, AdamW's state and the losses): a run resumes from the last.
    checkpoint_every: int = positive(500)
    # Seed of the batches, noise and timesteps (drawn per step from (seed, step), so a resumed run draws alike).
    seed: int = non_negative(0)
    # "Does the token carry the style": images per prompt kind and style; image i has subject i mod 7 and seed i.
    probe_images: int = positive(28)
    # The existing word re-learned on a style-balanced sample (one row: it must be a single token).
    relearn_word: str = "painting"
    # Its training caption; {word} is the word itself, so the caption reads as the evaluation prompts do.
    relearn_template: str = "a {word} of {filewords}"
    # Images per style of the balanced sample (every style of the full label set equally often).
    relearn_images_per_style: int = positive(8)
    # The audit's images before and after: the evaluation's "painting ..." prompts (i mod 8) with seed i.
    audit_images: int = positive(48)
    # Guidance-scale sweep: the models, the scales, and the first images of the evaluation protocol.
    sweep_models: list[EvalRow] = nonempty(lambda: list(EVAL_ROWS))
    sweep_scales: list[float] = non_negative(factory=lambda: list(SWEEP_SCALES), nonempty=True)
    sweep_images: int = positive(24)
    # The strip: this evaluation image (prompt i mod 24, seed i) of every sweep model across the scales.
    strip_image: int = non_negative(0)
    # Coverage of every interval (Wilson for accuracies, Student t for mean confidences and differences).
    confidence: float = probability(0.95)
