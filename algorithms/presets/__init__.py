"""Hyperparameter presets stored as data: one TOML file per environment, one table per algorithm.

``load_preset("dqn", "CartPole-v1", {"lr": 1e-3})`` fills the algorithm's config dataclass
from ``CartPole-v1.toml``'s ``[dqn]`` table, then applies the overrides one key at a time
and validates the result.
"""
from __future__ import annotations

import dataclasses
import tomllib
from functools import lru_cache
from pathlib import Path

from ..configs import ALGORITHM_CONFIGS, CommonConfig, apply_overrides

__all__ = ["PRESET_DIR", "preset_envs", "load_preset", "preset_table", "config_dict"]

PRESET_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _read(env_id: str) -> dict:
    with open(PRESET_DIR / f"{env_id}.toml", "rb") as f:
        return tomllib.load(f)


def preset_envs() -> list[str]:
    """Environment ids that have a preset file."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_table(algo: str, env_id: str) -> dict:
    """The raw ``[algo]`` table of ``env_id``'s preset (a copy)."""
    if algo not in ALGORITHM_CONFIGS:
        raise KeyError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGORITHM_CONFIGS)}")
    if env_id not in preset_envs():
        raise KeyError(f"no preset for env {env_id!r}; valid: {', '.join(preset_envs())}")
    tables = _read(env_id)
    if algo not in tables:
        raise KeyError(f"preset {env_id}.toml has no [{algo}] table; it has: {', '.join(tables)}")
    return dict(tables[algo])


def load_preset(algo: str, env_id: str, overrides: dict | None = None) -> CommonConfig:
    """The validated config of ``algo`` on ``env_id``: dataclass defaults < preset < overrides."""
    table = preset_table(algo, env_id)
    try:
        config = apply_overrides(ALGORITHM_CONFIGS[algo](), table)
    except (KeyError, ValueError) as err:
        raise ValueError(f"preset {env_id}.toml [{algo}]: {err}") from None
    return apply_overrides(config, dict(overrides or {}))


def config_dict(config: CommonConfig) -> dict:
    """A JSON-ready dict of a config."""
    return dataclasses.asdict(config)
