"""Every file location the project uses, as absolute paths.

Notebooks talk to each other only through files whose names come from here, so a notebook never
spells a path itself and never depends on the directory it is run from. Generated artifacts live
under one work root (the repository by default), each profile in folders of its own
(``data/<profile>/``, ``figures/<profile>/``, ``build/<profile>/``), so runs of different profiles
never overwrite or block each other; setting ``CLIPCREATE_WORKDIR`` moves the work root elsewhere,
which is how the test suite keeps its runs away from a user's results. The user study's files
(notebook 06) are in ``study_files``, the latent search's (08) in ``search_files``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PARAMS = REPO / "params"
NOTEBOOKS = REPO / "notebooks"
BUILD = REPO / "build"


PROFILE_VARIABLE = "CLIPCREATE_PROFILE"  # the active profile; in the environment, so worker processes inherit it


def work_root() -> Path:
    """Root under which data/ and figures/ are written (``CLIPCREATE_WORKDIR`` or the repository)."""
    return Path(os.environ.get("CLIPCREATE_WORKDIR", REPO)).resolve()


def use_profile(name: str) -> None:
    """Make ``name`` the profile whose folders every path below names (``data/<name>/``,
    ``figures/<name>/``), here and in the processes this one starts."""
    os.environ[PROFILE_VARIABLE] = name


def active_profile() -> str:
    """The profile ``use_profile`` chose; an error when none is, rather than a guess at a folder."""
    name = os.environ.get(PROFILE_VARIABLE)
    if not name:
        raise RuntimeError(
            "No profile is active, so there is no folder to read or write; call "
            "clipcreate_lib.paths.use_profile(name) first (notebooks do, through session.start)."
        )
    return name


def data_dir() -> Path:
    """The active profile's inputs and intermediate artifacts."""
    return work_root() / "data" / active_profile()


def figures_dir() -> Path:
    """The active profile's tables and figures."""
    return work_root() / "figures" / active_profile()


def build_dir() -> Path:
    """The active profile's executed notebooks, their logs and the settings run_all.sh resolved."""
    return work_root() / "build" / active_profile()


def params_file(profile: str) -> Path:
    return PARAMS / f"{profile}.yaml"


# --- notebook 01: datasets -------------------------------------------------------------------
def dataset_dir(name: str) -> Path:
    """A saved ``datasets.Dataset`` ('full' or 'mediums')."""
    return data_dir() / "datasets" / name


def captions_file() -> Path:
    """One caption per image of the full dataset (columns: index, style, caption)."""
    return data_dir() / "datasets" / "captions.csv"


def caption_cache_file(key: str) -> Path:
    """BLIP captions of one source (``key`` names dataset, split and captioner) by source row id,
    so a rerun never captions twice and another source never reuses them."""
    return data_dir() / "cache" / f"blip_captions_{key}.csv"


# The mini profile's pretrained models, one folder per model family under ``miniature_dir()``.
MINIATURE_FOLDERS = {"clip": "clip", "stable_diffusion": "stable_diffusion", "judge_clip": "judge_clip"}


def miniature_dir() -> Path:
    """The mini profile's pretrained models (notebook 01): clip/, stable_diffusion/ and judge_clip/ (the
    held-out judge of notebook 05), each saved with save_pretrained, its provenance beside it."""
    return data_dir() / "miniature"


def miniature_plot() -> Path:
    """The miniature models' training losses and one sample per style with the style CLIP sees in it."""
    return figures_dir() / "miniature.png"


def mediums_ranking_file() -> Path:
    """Fraction of medium-word captions for every style, before the top ones are chosen."""
    return data_dir() / "datasets" / "mediums_ranking.csv"


def mediums_table() -> Path:
    return figures_dir() / "mediums.csv"


def mediums_plot() -> Path:
    return figures_dir() / "mediums_fractions.png"


# --- notebook 02: CLIP embeddings and centroids ----------------------------------------------
def embeddings_file(name: str) -> Path:
    """L2-normalised CLIP image embeddings of a dataset, row-aligned with it."""
    return data_dir() / "embeddings" / f"{name}.npy"


def centroids_file(name: str) -> Path:
    """k-means centroids in CLIP image space (k x embedding width)."""
    return data_dir() / "centroids" / f"{name}.npy"


def text_embeddings_file(name: str) -> Path:
    """L2-normalised CLIP text embeddings of a label set's style names (N x embedding width)."""
    return data_dir() / "centroids" / f"text_{name}.npy"


def labels_file(name: str) -> Path:
    """The style names of a label set, in class-index order (JSON list)."""
    return data_dir() / "centroids" / f"labels_{name}.json"


def elbow_plot() -> Path:
    return figures_dir() / "kmeans_elbow.png"


def elbow_table() -> Path:
    return data_dir() / "centroids" / "kmeans_inertia.csv"


# --- notebook 03: the CAN baseline -----------------------------------------------------------
def can_dir(name: str) -> Path:
    """Everything of the CAN trained on one label set ('full' or 'mediums')."""
    return data_dir() / "can" / name


def can_discriminator_file(name: str) -> Path:
    """The trained discriminator (eval-mode classifier `disc`), with its labels; provenance beside it."""
    return can_dir(name) / "discriminator.pt"


def can_checkpoint_file(name: str) -> Path:
    """Generator, discriminator, optimisers, RNG states and losses after the last finished epoch."""
    return can_dir(name) / "checkpoint.pt"


def can_losses_file(name: str) -> Path:
    """One row of mean losses per epoch."""
    return can_dir(name) / "losses.csv"


def can_samples_plot() -> Path:
    return figures_dir() / "can_samples.png"


def can_losses_plot() -> Path:
    return figures_dir() / "can_losses.png"


# --- notebook 04: DDPO ----------------------------------------------------------------------
def ddpo_dir(model: str) -> Path:
    """One DDPO run ('clip-full', ...): checkpoint.pt, metrics.csv, trained.json and the trained
    weights (lora/ or unet/) that evaluation loads with ``ddpo.weights.load_trained``."""
    return data_dir() / "ddpo" / model


def ddpo_seed_dir(model: str, seed: int) -> Path:
    """The run of ``model`` with a DDPO seed of ``ddpo.seeds`` other than ``ddpo.seed`` (whose run is
    ``ddpo_dir``, the one the later notebooks use), laid out as ``ddpo_dir``'s."""
    return data_dir() / "ddpo_seeds" / f"{model}-seed{seed}"


def draft_dir(model: str) -> Path:
    """A model trained by DRaFT instead of DDPO (notebook 04, ``draft.models``): the same files as its
    ``ddpo_dir``."""
    return data_dir() / "draft" / model


def optimisers_stem() -> Path:
    """DDPO against DRaFT on each model of ``draft.models`` (benchmarks/optimisers.py): images and
    seconds to DDPO's final ambiguity, final diversity; the .csv and .md files share this stem."""
    return figures_dir() / "optimisers"


def optimisers_plot() -> Path:
    """Ambiguity against images sampled (and seconds) of both optimisers, per model."""
    return figures_dir() / "optimisers.png"


def optimisers_images_dir(method: str, model: str) -> Path:
    """The evaluation images benchmarks/optimisers.py scores the diversity of ('base', 'ddpo', 'draft')."""
    return data_dir() / "optimisers" / method / model


def ddpo_rewards_plot() -> Path:
    return figures_dir() / "ddpo_rewards.png"


def ddpo_samples_plot() -> Path:
    """Each model's first training samples at the epochs it kept them (rows: models; columns: epochs)."""
    return figures_dir() / "ddpo_samples.png"


def kmeans_temperature_table() -> Path:
    """The k-means classifier per temperature (ambiguity, top probability, entropy / log k) on the
    dataset's images and on the untrained model's samples, for both label sets."""
    return data_dir() / "ddpo" / "kmeans_temperature.csv"


def kmeans_temperature_plot() -> Path:
    return figures_dir() / "kmeans_temperature.png"


# --- notebook 05: evaluation ----------------------------------------------------------------
def eval_dir(model: str) -> Path:
    """One model's evaluation set ('base' or a DDPO model): images/, manifest.csv (model, index,
    prompt, seed, file) with its provenance, and scores.csv (every score of every image)."""
    return data_dir() / "eval" / model


def eval_seed_dir(model: str, seed: int) -> Path:
    """The evaluation set of ``model``'s run with another DDPO seed (``ddpo_seed_dir``), laid out as
    ``eval_dir``'s."""
    return data_dir() / "eval_seeds" / f"{model}-seed{seed}"


def table1_stem() -> Path:
    """Table I (AVA and ImageReward per model): the .csv, .md and .tex files share this stem."""
    return figures_dir() / "table1"


def ambiguity_rise_stem() -> Path:
    """Each trained model's style ambiguity against the untrained model's on the same evaluation images."""
    return figures_dir() / "ambiguity_rise"


def proxies_stem() -> Path:
    """The creativity-proxy table (ambiguity under each classifier, diversity, alignment)."""
    return figures_dir() / "table1_proxies"


def judges_stem() -> Path:
    """Each trained model's ambiguity rise under its own classifier and under the held-out judges."""
    return figures_dir() / "judges"


def ambiguity_rise_plot() -> Path:
    """The forest plot of every model's ambiguity rise, with its interval, under each judge."""
    return figures_dir() / "ambiguity_rise.png"


def transfer_plot() -> Path:
    """The heatmap of each model's ambiguity rise under every classifier (how far it transfers)."""
    return figures_dir() / "transfer.png"


def score_distributions_plot() -> Path:
    """Per-model distributions (violins) of AVA, ImageReward and ambiguity under the model's classifier."""
    return figures_dir() / "score_distributions.png"


def figure1_files() -> list[Path]:
    return [figures_dir() / "figure1.png", figures_dir() / "figure1.pdf"]
