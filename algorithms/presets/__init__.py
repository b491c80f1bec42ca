"""Hyperparameter presets stored as data: one TOML file per environment, one table per algorithm.

``load_preset("dqn", "CartPole-v1", {"lr": 1e-3})`` fills the algorithm's config dataclass from
``CartPole-v1.toml``'s ``[dqn]`` table, then applies the overrides one key at a time and
validates the result. Where the table comes from, first match wins:

1. the user's preset file (``--preset FILE.toml``), table ``[algo]``;
2. the built-in file ``algorithms/presets/<env>.toml``, table ``[algo]`` (an id with a namespace is a
   folder: ``MinAtar/Breakout-v1`` is ``presets/MinAtar/Breakout-v1.toml``);
3. the same two places for the algorithm whose presets ``algo`` reuses (``register_algorithm(...,
   presets="dqn")``), and so on down that chain;
4. none: the config dataclass's defaults (``preset_source`` says so; never an error).

A table may start from another table of the same file: ``extends = "dqn"`` takes every key of
``[dqn]`` (itself possibly extending another) and then the table's own keys.
"""
from __future__ import annotations

import dataclasses
import tomllib
from functools import lru_cache
from pathlib import Path

from ..configs import CommonConfig, apply_overrides
from ..registry import get_algorithm

__all__ = ["PRESET_DIR", "preset_envs", "load_preset", "preset_table", "preset_source", "read_preset_file",
           "config_dict"]

PRESET_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _read_builtin(env_id: str) -> dict:
    with open(PRESET_DIR / f"{env_id}.toml", "rb") as f:
        return tomllib.load(f)


def read_preset_file(path: str | Path) -> dict:
    """A user's preset file: ``[algo]`` tables of hyperparameters, optionally keyed by env as
    ``[algo."CartPole-v1"]`` sub-tables (an env's sub-table overrides the algorithm's keys)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            tables = tomllib.load(f)
    except OSError as err:
        raise ValueError(f"cannot read preset file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"preset file {path} is not valid TOML: {err}") from None
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ValueError(f"preset file {path}: {name!r} must be a [table] of hyperparameters, got {table!r}")
    return tables


def preset_envs() -> list[str]:
    """Environment ids that have a built-in preset file: ``<env>.toml``, or ``<namespace>/<env>.toml``
    for an id with a namespace (gymnasium's ``namespace/name-vN``)."""
    files = [*PRESET_DIR.glob("*.toml"), *PRESET_DIR.glob("*/*.toml")]
    return sorted(p.relative_to(PRESET_DIR).with_suffix("").as_posix() for p in files)


def _resolve_extends(tables: dict, name: str, where: str, seen: tuple = ()) -> dict:
    if name in seen:
        raise ValueError(f"{where}: 'extends' cycle {' -> '.join((*seen, name))}")
    if name not in tables:
        raise ValueError(f"{where}: [{seen[-1]}] extends {name!r}, which is not a table of that file")
    table = dict(tables[name])
    base = table.pop("extends", None)
    if base is None:
        return table
    if not isinstance(base, str):
        raise ValueError(f"{where}: [{name}] extends must be a table name, got {base!r}")
    return {**_resolve_extends(tables, base, where, (*seen, name)), **table}


def _user_table(tables: dict, algo: str, env_id: str, where: str) -> dict | None:
    if algo not in tables:
        return None
    table = {k: v for k, v in tables[algo].items() if not isinstance(v, dict)}
    per_env = tables[algo].get(env_id)
    table = _resolve_extends({**tables, algo: table}, algo, where)
    if isinstance(per_env, dict):
        table.update(per_env)
    return table


def _candidates(algo: str, env_id: str, preset_file: str | Path | None):
    """(table or None, where it came from) for ``algo`` and each algorithm it reuses presets of."""
    name, seen = algo, set()
    while name is not None and name not in seen:
        seen.add(name)
        if preset_file is not None:
            yield _user_table(read_preset_file(preset_file), name, env_id, str(preset_file)), \
                f"{preset_file} [{name}]"
        if env_id in preset_envs():
            tables = _read_builtin(env_id)
            table = _resolve_extends(tables, name, f"{env_id}.toml") if name in tables else None
            yield table, f"{env_id}.toml [{name}]"
        name = get_algorithm(name).presets


def _find(algo: str, env_id: str, preset_file) -> tuple[dict, str | None]:
    get_algorithm(algo)  # a clear error for an unknown name
    for table, where in _candidates(algo, env_id, preset_file):
        if table is not None:
            return table, where
    return {}, None


def preset_table(algo: str, env_id: str, preset_file: str | Path | None = None) -> dict:
    """The hyperparameters ``algo`` starts from on ``env_id`` (``extends`` resolved; {} if none)."""
    return dict(_find(algo, env_id, preset_file)[0])


def preset_source(algo: str, env_id: str, preset_file: str | Path | None = None) -> str | None:
    """Where ``algo``'s preset for ``env_id`` comes from ("CartPole-v1.toml [dqn]"), or None."""
    return _find(algo, env_id, preset_file)[1]


def load_preset(algo: str, env_id: str, overrides: dict | None = None,
                preset_file: str | Path | None = None) -> CommonConfig:
    """The validated config of ``algo`` on ``env_id``: dataclass defaults < preset < overrides."""
    table, where = _find(algo, env_id, preset_file)
    try:
        config = apply_overrides(get_algorithm(algo).config(), table)
    except (KeyError, ValueError) as err:
        raise ValueError(f"preset {where}: {str(err).strip(chr(34))}") from None
    return apply_overrides(config, dict(overrides or {}))


def config_dict(config: CommonConfig) -> dict:
    """A JSON-ready dict of a config."""
    return dataclasses.asdict(config)
