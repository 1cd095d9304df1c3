"""Where notebook 09 keeps its learned tokens, its image sets and its tables and figures."""

from __future__ import annotations

from pathlib import Path

from clipcreate_lib.paths import data_dir, figures_dir


def token_dir(name: str) -> Path:
    """One learned embedding (a style's token, or ``word-<w>`` for a re-learned word): its
    ``learned_embeds.safetensors`` (the file ``load_textual_inversion`` reads), checkpoint and losses."""
    return data_dir() / "tokens" / name


def sweep_dir(model: str, scale: float) -> Path:
    """The guidance-scale sweep's images and scores of ``model`` at one classifier-free guidance scale."""
    return data_dir() / "tokens" / "sweep" / model / f"scale{scale:g}"


def style_tokens_stem() -> Path:
    """Per style and classifier: accuracy and confidence with the token, the style's name and the bare prompt."""
    return figures_dir() / "style_tokens"


def style_tokens_plot() -> Path:
    return figures_dir() / "style_tokens.png"


def style_tokens_losses_plot() -> Path:
    """Every token's training loss, step by step."""
    return figures_dir() / "style_tokens_losses.png"


def relearned_word_stem() -> Path:
    """The "painting ..." images' ambiguity under the six classifiers before and after re-learning the
    word, next to the DDPO models' on the same prompts (notebook 05)."""
    return figures_dir() / "relearned_word"


def guidance_scale_stem() -> Path:
    """One row per (model, scale): ambiguity, alignment, AVA, ImageReward and diversity (.csv, .md, .tex)."""
    return figures_dir() / "guidance_scale"


def guidance_scale_plot() -> Path:
    return figures_dir() / "guidance_scale.png"


def guidance_scale_strip() -> Path:
    """One prompt and seed of every swept model across the scales."""
    return figures_dir() / "guidance_scale_strip.png"
