"""Settings of the latent search in the CAN generator and the style-bias audit (notebook 08, seed 002).
The defaults follow CLIP-GLaSS (Galatolo et al. 2021), whose NSGA-II searched StyleGAN2 with a
population of 16 for 500 generations; the gradient search and the audit are this project's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clipcreate_lib.config.fields import above_zero, non_negative, nonempty, positive

LabelSet = Literal["full", "mediums"]


@dataclass
class SearchConfig:
    # Texts whose CLIP embedding the search brings G(z) close to (seed 002: "beautiful landscape").
    queries: list[str] = nonempty(lambda: ["a beautiful painting", "a beautiful landscape"])
    # Also search for each of the evaluation's 24 prompts (notebook 05's "painting of a man ", ...).
    paper_prompts: bool = False
    # The CANs (one per label set, notebook 03) whose generators are searched.
    label_sets: list[LabelSet] = nonempty(lambda: ["full", "mediums"])
    # Gradient search: this many fixed random starts z ~ N(0, I), each put on the shell |z| = sqrt(z_dim).
    starts: int = positive(32)
    # Adam steps per start; after every step z is projected back onto the shell.
    steps: int = positive(200)
    # Adam's learning rate on z.
    lr: float = above_zero(0.05)
    # Weight of realness in the gradient search's loss: -cos(query, G(z)) + w * BCE(D(G(z)), real).
    realness_weight: float = non_negative(0.1)
    # NSGA-II (pymoo): population size and generations (CLIP-GLaSS: 16 and 500).
    population: int = positive(16)
    generations: int = positive(500)
    # Random z ~ N(0, I) scored as the reference cloud of the Pareto plot and the audit's "random z" set.
    random_samples: int = positive(128)
    # Generator + CLIP + discriminator forward passes in batches of this many z.
    batch_size: int = positive(32)
    # Best images per query shown in the grid (by CLIP score, from the gradient search).
    grid_images: int = positive(6)
    # The audit's reference distribution: the training data's style frequencies ("labels"; for the
    # k-means classifier the data's nearest-centroid frequencies) or the uniform distribution.
    audit_reference: Literal["labels", "uniform"] = "labels"
    # Seed of the starts, the random z and NSGA-II.
    seed: int = non_negative(0)
