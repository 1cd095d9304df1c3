"""Rules between settings that each look fine alone, checked before any notebook runs (each was once a
failure hours into a run): every one raises a ``ConfigError`` naming both keys."""

from __future__ import annotations

from typing import Any

from clipcreate_lib.config.fields import ConfigError

EMBEDDED_STYLES = 27  # the embedded dataset draws WikiArt's 27 style names


def check(cfg: Any, where: str) -> None:
    """Refuse a ``Config`` whose sections disagree with one another."""
    _images(cfg, where)
    _training(cfg, where)
    _miniature(cfg.miniature, where)
    _tokens(cfg, where)


def _images(cfg: Any, where: str) -> None:
    """Figure 1's rows and the study's images must be among the evaluation's, the rated models evaluated."""
    ev, study = cfg.evaluation, cfg.user_study
    for key, indices in (
        ("evaluation.figure_images", ev.figure_images),
        ("user_study.image_indices", study.image_indices),
    ):
        if max(indices) >= ev.images:
            raise ConfigError(
                f"{where}: key '{key}' asks for image {max(indices)}, but evaluation.images makes only "
                f"{ev.images} (0 to {ev.images - 1}); lower it or raise evaluation.images."
            )
    if len(set(study.image_indices)) != len(study.image_indices):
        raise ConfigError(
            f"{where}: key 'user_study.image_indices' must name each image once, got {study.image_indices}."
        )
    missing = [m for m in study.models if m not in ev.models]
    if missing:
        raise ConfigError(
            f"{where}: key 'user_study.models' rates {missing[0]}, which evaluation.models does not make "
            f"images of; add it there or rate only {', '.join(m for m in ev.models if m != 'base')}."
        )


def _training(cfg: Any, where: str) -> None:
    """The mediums selection must fit the data, the seeds hold the main run's, and the per-prompt
    statistics must be reachable."""
    if cfg.data.source == "embedded" and cfg.data.n_mediums > EMBEDDED_STYLES:
        raise ConfigError(
            f"{where}: key 'data.n_mediums' is {cfg.data.n_mediums}, but the embedded data has "
            f"{EMBEDDED_STYLES} styles; choose at most {EMBEDDED_STYLES}."
        )
    seeds = cfg.ddpo.seeds
    if seeds and (cfg.ddpo.seed not in seeds or len(set(seeds)) != len(seeds)):
        raise ConfigError(
            f"{where}: key 'ddpo.seeds' ({seeds}) must name each seed once and hold ddpo.seed "
            f"({cfg.ddpo.seed}), the run the later notebooks use; add it or change ddpo.seed."
        )
    if cfg.ddpo.stat_min_count > cfg.ddpo.stat_buffer_size:
        raise ConfigError(
            f"{where}: key 'ddpo.stat_min_count' ({cfg.ddpo.stat_min_count}) is more than "
            f"ddpo.stat_buffer_size ({cfg.ddpo.stat_buffer_size}) holds, so per-prompt statistics would "
            f"never be used; lower it or raise the buffer."
        )


def _miniature(mini: Any, where: str) -> None:
    """The miniature UNet's widths must split into its groups and heads; its text shares must add up."""
    bad = [c for c in mini.unet_channels if c % mini.unet_norm_groups or c % mini.unet_attention_head_dim]
    if bad:
        raise ConfigError(
            f"{where}: key 'miniature.unet_channels' has {bad[0]}, which miniature.unet_norm_groups "
            f"({mini.unet_norm_groups}) and miniature.unet_attention_head_dim "
            f"({mini.unet_attention_head_dim}) must both divide."
        )
    if mini.caption_dropout + mini.style_free_rate > 1:
        raise ConfigError(
            f"{where}: keys 'miniature.caption_dropout' and 'miniature.style_free_rate' are shares of the "
            f"same texts and add up to {mini.caption_dropout + mini.style_free_rate:g}, more than 1."
        )


def _tokens(cfg: Any, where: str) -> None:
    """Notebook 09's strip shows an image its sweep makes. (Its swept DDPO models are not held to
    ddpo.models: notebook 04 may train a few models again, and 09 reads the weights on disk.)"""
    if cfg.tokens.strip_image >= cfg.tokens.sweep_images:
        raise ConfigError(
            f"{where}: key 'tokens.strip_image' asks for image {cfg.tokens.strip_image}, but tokens.sweep_images "
            f"makes only {cfg.tokens.sweep_images}; lower it or raise tokens.sweep_images."
        )
