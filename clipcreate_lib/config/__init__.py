"""Typed, validated settings: one dataclass per stage, one YAML file per profile.

``params/<profile>.yaml`` holds a ``profile`` name and one section per stage. A notebook gets two
parameters, the profile's name and ``overrides`` (a mapping of sections merged over the file), and
``load`` validates the result, so a typo in a key or a string where a number belongs fails at once
with a sentence naming the key, never deep in a run. The dataclass defaults (``inputs``, ``stages``)
are the paper's settings; ``tiny.yaml`` shrinks models and data only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml

from clipcreate_lib import paths
from clipcreate_lib.config.fields import ConfigError
from clipcreate_lib.config.inputs import DataConfig, MiniatureConfig, ModelsConfig
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
from clipcreate_lib.config.validation import build

__all__ = [
    "EVAL_ROWS",
    "MODEL_NAMES",
    "PROFILES",
    "CanConfig",
    "CentroidsConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "DdpoConfig",
    "EvaluationConfig",
    "MiniatureConfig",
    "ModelsConfig",
    "RewardConfig",
    "UserStudyConfig",
    "describe",
    "from_dict",
    "load",
    "to_dict",
]

PROFILES = ("tiny", "mini", "paper", "paper-shaped")


@dataclass
class Config:
    # Profile name, also the params/<profile>.yaml it came from.
    profile: str = "paper"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    centroids: CentroidsConfig = field(default_factory=CentroidsConfig)
    can: CanConfig = field(default_factory=CanConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    ddpo: DdpoConfig = field(default_factory=DdpoConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    user_study: UserStudyConfig = field(default_factory=UserStudyConfig)
    miniature: MiniatureConfig = field(default_factory=MiniatureConfig)


def load(profile: str = "tiny", overrides: dict | None = None, **sections: dict | None) -> Config:
    """Read ``params/<profile>.yaml``, merge ``overrides`` (sections by name) and then the keyword
    ``sections`` over it (None = keep the file's section), and validate."""
    if profile not in PROFILES:
        raise ConfigError(f"Unknown profile '{profile}'; choose one of {', '.join(PROFILES)}.")
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"Parameter 'overrides' must be a mapping of sections, got {type(overrides).__name__}.")
    path = paths.params_file(profile)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(raw).__name__}.")
    for name, override in {**(overrides or {}), **sections}.items():
        if override is None:
            continue
        if not isinstance(override, dict):
            raise ConfigError(f"Parameter '{name}' must be a mapping, got {type(override).__name__}.")
        base = raw.get(name) or {}
        raw[name] = {**base, **override}
    if raw.get("profile", profile) != profile:
        raise ConfigError(f"{path} says profile '{raw['profile']}' but was loaded as '{profile}'.")
    raw["profile"] = profile
    return from_dict(raw, where=str(path.relative_to(paths.REPO)))


def from_dict(raw: dict, where: str = "config") -> Config:
    """Build a ``Config`` from plain data, rejecting unknown keys and wrong types by name."""
    return build(Config, raw, prefix="", where=where)


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
