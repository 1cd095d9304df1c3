"""Typed, validated settings: one dataclass per stage, one YAML file per profile.

A profile (``profiles``) is ``params/<name>.yaml`` or any YAML file given by its path; it may extend
another and give only what differs. A notebook gets two parameters, the profile and ``overrides``
(a mapping of sections merged over it), and ``load`` validates the result (``validation``, then the
rules between sections in ``consistency``), so a typo in a key, a string where a number belongs or
a NaN learning rate fails at once with a sentence naming the key, never deep in a run. The
dataclass defaults (``inputs``, ``stages``) are the paper's settings; ``tiny.yaml`` shrinks models
and data only. ``python -m clipcreate_lib.config`` resolves a profile on the command line.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clipcreate_lib import artifacts
from clipcreate_lib.config import consistency, profiles
from clipcreate_lib.config.draft import DraftConfig
from clipcreate_lib.config.fields import ConfigError
from clipcreate_lib.config.guidance import GuidanceConfig
from clipcreate_lib.config.inputs import DataConfig, MiniatureConfig, ModelsConfig
from clipcreate_lib.config.search import SearchConfig
from clipcreate_lib.config.stages import (
    EVAL_ROWS,
    MODEL_NAMES,
    CanConfig,
    CentroidsConfig,
    DdpoConfig,
    EvaluationConfig,
    RewardConfig,
    UserStudyConfig,
)
from clipcreate_lib.config.tokens import TokensConfig
from clipcreate_lib.config.validation import build

__all__ = [
    "EVAL_ROWS",
    "MODEL_NAMES",
    "CanConfig",
    "CentroidsConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "DdpoConfig",
    "DraftConfig",
    "EvaluationConfig",
    "GuidanceConfig",
    "MiniatureConfig",
    "ModelsConfig",
    "RewardConfig",
    "SearchConfig",
    "TokensConfig",
    "UserStudyConfig",
    "available_profiles",
    "describe",
    "field_type",
    "from_dict",
    "load",
    "parse_sets",
    "save",
    "to_dict",
]


@dataclass
class Config:
    # Profile name: its file's stem, which names its folders (data/<profile>/, figures/<profile>/).
    profile: str = "paper"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    centroids: CentroidsConfig = field(default_factory=CentroidsConfig)
    can: CanConfig = field(default_factory=CanConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    ddpo: DdpoConfig = field(default_factory=DdpoConfig)
    draft: DraftConfig = field(default_factory=DraftConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    user_study: UserStudyConfig = field(default_factory=UserStudyConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    miniature: MiniatureConfig = field(default_factory=MiniatureConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)


def load(profile: str | Path = "tiny", overrides: dict | None = None, **sections: dict | None) -> Config:
    """The profile (a name in params/ or a YAML file's path) with every ``extends`` resolved, then
    ``overrides`` (sections by name) and the keyword ``sections`` merged over it (None = keep the
    file's section), validated."""
    name, path = profiles.find(profile)
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"Parameter 'overrides' must be a mapping of sections, got {type(overrides).__name__}.")
    raw = profiles.compose(name, path)
    for section, override in {**(overrides or {}), **sections}.items():
        if override is None:
            continue
        if not isinstance(override, dict):
            raise ConfigError(f"Parameter '{section}' must be a mapping, got {type(override).__name__}.")
        raw = profiles.merge(raw, {section: override})
    return from_dict({**raw, "profile": name}, where=profiles.display(path))


def from_dict(raw: dict, where: str = "config") -> Config:
    """Build a ``Config`` from plain data, rejecting unknown keys, wrong types and bad values by name."""
    return build(Config, raw, prefix="", where=where)


def check_notebooks(cfg: Config) -> Config:
    """``cfg``, refused when its sections disagree in a way that would stop a notebook part-way (Figure 1
    asking for an image the evaluation does not make, say): what run_all.sh and every notebook check
    before they start. Library code that uses one stage alone need not meet it."""
    consistency.check(cfg, f"profile {cfg.profile}")
    return cfg


def available_profiles() -> list[str]:
    return profiles.available()


def field_type(section: str, key: str) -> Any:
    """The type of setting ``section.key``, or a ConfigError naming what is known."""
    sections = typing.get_type_hints(Config)
    if section not in sections or section == "profile":
        known = ", ".join(f.name for f in dataclasses.fields(Config) if f.name != "profile")
        raise ConfigError(f"unknown section '{section}'; the sections are {known}.")
    keys = typing.get_type_hints(sections[section])
    if key not in keys:
        raise ConfigError(f"unknown key '{section}.{key}'; known keys here are {', '.join(sorted(keys))}.")
    return keys[key]


def parse_sets(items: list[str]) -> dict:
    """``--set section.key=value`` items as one overrides mapping (a later item wins)."""
    overrides: dict = {}
    for item in items:
        overrides = profiles.merge(overrides, profiles.parse_set(item, field_type))
    return overrides


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def describe(cfg: Config, *sections: str) -> str:
    """The resolved settings of ``sections`` (all when none are named) as YAML, for a notebook to print."""
    chosen = sections or tuple(f.name for f in dataclasses.fields(cfg) if f.name != "profile")
    return yaml.safe_dump(
        {"profile": cfg.profile, **{name: to_dict(getattr(cfg, name)) for name in chosen}},
        sort_keys=False,
        default_flow_style=None,
        width=110,
    ).rstrip()


def save(cfg: Config, path: Path) -> Path:
    """Every resolved setting as YAML, written atomically: a run's record of what it ran with."""
    return artifacts.atomic_write(path, lambda f: f.write((describe(cfg) + "\n").encode()))
